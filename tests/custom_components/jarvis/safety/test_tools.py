"""How tool calls become actions for the policy: intents per domain, scripts, unknown tools."""

from __future__ import annotations

from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import llm
from homeassistant.setup import async_setup_component
import pytest

from custom_components.jarvis.safety.tools import (
    GatedTool,
    intent_actions,
    intent_service,
    tool_actions,
)
from tests.support.fake_providers.openai import OpenAIServer
from tests.support.fake_unifi_access import FakeUnifiAccess
from tests.support.worker import Worker

from .helpers import Workshop, code, rule, setup_workshop


@pytest.mark.parametrize(
    ("intent_type", "domain", "service"),
    [
        ("HassTurnOn", "lock", "lock"),
        ("HassTurnOff", "lock", "unlock"),
        ("HassTurnOn", "cover", "open_cover"),
        ("HassTurnOff", "valve", "close_valve"),
        ("HassTurnOn", "button", "press"),
        ("HassTurnOn", "switch", "turn_on"),
        ("HassTurnOff", "light", "turn_off"),
        ("HassToggle", "switch", "toggle"),
        ("HassLightSet", "light", "turn_on"),
        ("HassSetPosition", "cover", "set_cover_position"),
        ("HassSetPosition", "valve", "set_valve_position"),
        ("HassClimateSetTemperature", "climate", "intent_HassClimateSetTemperature"),
    ],
)
def test_intent_services(intent_type: str, domain: str, service: str) -> None:
    """The services HA's intent handlers end up calling (intent/__init__.py)."""
    assert intent_service(intent_type, domain) == service


def _context(user_id: str | None) -> llm.LLMContext:
    return llm.LLMContext(
        platform="test",
        context=Context(user_id=user_id),
        language="en",
        assistant=conversation.DOMAIN,
        device_id=None,
    )


async def test_scripts_and_unknown_tools(
    hass: HomeAssistant, session_worker: Worker, cloud: OpenAIServer, unifi: FakeUnifiAccess
) -> None:
    shop: Workshop = await setup_workshop(
        hass,
        session_worker,
        cloud,
        unifi,
        extra=[rule(name="no open all", verdict="deny", actions=["script.open_all"])],
    )
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "open_all": {
                    "sequence": [
                        {"action": "lock.unlock", "target": {"entity_id": "lock.front_door"}}
                    ]
                },
                "hello": {
                    "sequence": [
                        {"action": "lock.lock", "target": {"entity_id": "lock.front_door"}}
                    ]
                },
            }
        },
    )
    for script in ("script.open_all", "script.hello"):
        async_expose_entity(hass, conversation.DOMAIN, script, True)
    api = await llm.async_get_api(hass, "jarvis_safety", _context(shop.alice.id))
    names = {t.name for t in api.tools}
    assert {"open_all", "hello"} <= names
    refused = await api.async_call_tool(llm.ToolInput("open_all", {}))
    assert refused["executed"] is False and refused["gated"][0]["code"] == "denied_by_policy"
    assert not shop.hazardous_calls()
    done = await api.async_call_tool(llm.ToolInput("hello", {}))
    assert done["success"] is True
    # A tool the gate cannot see into is judged by its name; read-only tools are not gated.
    live = next(t for t in api.tools if t.name == "GetLiveContext")
    assert tool_actions(hass, live, {}, _context(None)) == []
    inner = next(t for t in api.tools if t.name == "hello")
    assert isinstance(inner, GatedTool)

    class Other(llm.Tool):
        name = "make_coffee"

        async def async_call(
            self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
        ) -> dict[str, bool]:
            return {"brewed": True}

    (action,) = tool_actions(hass, Other(), {"cups": 2}, _context(None))
    assert action.name == "llm_tool.make_coffee" and action.data == {"cups": 2}
    # Intents without any target constraint, or naming nothing that exists, touch nothing.
    assert intent_actions(hass, "HassTurnOn", {}, conversation.DOMAIN) == []
    assert intent_actions(hass, "HassTurnOn", {"name": "Nothing here"}, conversation.DOMAIN) == []
    # With the gate gone, gated tools refuse to act (fail closed); read-only ones still run.
    assert await hass.config_entries.async_unload(shop.entry.entry_id)
    gated = GatedTool(Other())
    with pytest.raises(Exception) as err:
        await gated.async_call(hass, llm.ToolInput("make_coffee", {}), _context(shop.alice.id))
    assert code(err.value) == "gate_unavailable"
    assert await GatedTool(live).async_call(
        hass, llm.ToolInput("GetLiveContext", {}), _context(None)
    )
