"""HA's tools as JSON-schema specs: converted once per schema, not once per request."""

from __future__ import annotations

from typing import Any

from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import llm
from homeassistant.setup import async_setup_component
import voluptuous as vol

from custom_components.jarvis import agent


class FieldsTool(llm.Tool):
    """A tool whose schema is built per instance, like HA's script tools."""

    name = "RunScript"
    description = "Run a script"

    def __init__(self, fields: dict[Any, Any]) -> None:
        self.parameters = vol.Schema(fields)

    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> dict[str, Any]:
        return {}


async def _assist(hass: HomeAssistant) -> llm.APIInstance:
    context = llm.LLMContext(
        platform="jarvis",
        context=Context(),
        language="en",
        assistant="conversation",
        device_id=None,
    )
    return await llm.async_get_api(hass, llm.LLM_API_ASSIST, context)


async def test_each_request_reuses_the_converted_specs(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "intent", {})
    hass.states.async_set("light.bench", "off", {"friendly_name": "Bench"})
    first, second = await _assist(hass), await _assist(hass)
    assert first.tools[0] is not second.tools[0]  # HA builds new tools per request
    specs = agent.to_tool_specs(first)
    again = agent.to_tool_specs(second)
    assert specs == again
    assert all(a is b for a, b in zip(specs, again, strict=True))
    turn_on = next(s for s in specs if s.name == "HassTurnOn")
    assert "name" in turn_on.parameters["properties"]
    assert agent.to_tool_specs(None) == ()


async def test_a_different_schema_is_converted_anew(hass: HomeAssistant) -> None:
    api = await _assist(hass)
    # HA's intent tools wrap the same (cached) slot validators in a new vol.Schema per request.
    number, required = vol.Coerce(int), vol.Required("speed")
    one = agent.to_tool_specs_for([FieldsTool({required: number})], api)
    same = agent.to_tool_specs_for([FieldsTool({required: number})], api)
    other = agent.to_tool_specs_for([FieldsTool({vol.Optional("speed"): number})], api)
    lookalike = agent.to_tool_specs_for([FieldsTool({vol.Required("speed"): number})], api)
    assert one[0] is same[0]
    assert other[0] is not one[0]
    assert lookalike[0] is not one[0]  # equal-looking but new validators: converted, not guessed
    assert lookalike[0] == one[0]
    assert one[0].parameters["required"] == ["speed"]
    assert other[0].parameters["required"] == []


async def test_the_cache_stays_bounded(hass: HomeAssistant) -> None:
    api = await _assist(hass)
    for index in range(agent._SPEC_CACHE_SIZE + 50):
        agent.to_tool_specs_for([FieldsTool({vol.Required(f"f{index}"): str})], api)
    assert len(agent._SPEC_CACHE) == agent._SPEC_CACHE_SIZE
