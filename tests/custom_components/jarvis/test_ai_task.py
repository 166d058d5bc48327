"""AI Task entity: data generation through the same router, structured output included."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json

from homeassistant.components import ai_task
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.setup import async_setup_component
import pytest
import voluptuous as vol

from custom_components.jarvis.const import SUBENTRY_AI_TASK
from tests.support.fake_providers import openai as oai
from tests.support.fake_providers.base import Reply
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer
from tests.support.worker import Worker

from .routing_helpers import agent, provider, setup_shop, streamed

ENTITY_ID = "ai_task.jarvis_tasks"


@pytest.fixture
async def servers() -> AsyncGenerator[tuple[OpenAIServer, OpenAIServer]]:
    """Local (t1) and cloud (t2) OpenAI-wire servers."""
    local, cloud = await OpenAIServer().start(), await OpenAIServer().start()
    yield local, cloud
    await local.stop()
    await cloud.stop()


async def _setup(
    hass: HomeAssistant, worker: Worker, local: OpenAIServer, cloud: OpenAIServer
) -> None:
    task_agent = agent()
    task_agent.update(subentry_type=SUBENTRY_AI_TASK, title="Jarvis tasks")
    await setup_shop(
        hass,
        worker,
        [
            provider("llama", "openai_compatible", local.base_url),
            provider("gpt", "openai", cloud.base_url, price_in=1.0, price_out=4.0),
            task_agent,
        ],
    )
    assert await async_setup_component(hass, "ai_task", {})
    assert hass.states.get(ENTITY_ID) is not None


STRUCTURE = vol.Schema({vol.Required("name"): str, vol.Required("layers"): int})


async def test_structured_data_from_the_local_tier(
    hass: HomeAssistant, session_worker: Worker, servers: tuple[OpenAIServer, OpenAIServer]
) -> None:
    local, cloud = servers
    await _setup(hass, session_worker, local, cloud)
    body = json.dumps({"name": "bracket", "layers": 120})
    tokens = [oai.token_logprob(body, -0.01, [(body, -0.01)])]
    local.script(CHAT_PATH, Reply(json=oai.completion(body, logprobs=tokens)))
    result = await ai_task.async_generate_data(
        hass,
        task_name="plan",
        entity_id=ENTITY_ID,
        instructions="Describe the print job",
        structure=STRUCTURE,
    )
    assert result.data == {"name": "bracket", "layers": 120}
    sent = local.requests_to(CHAT_PATH)[0].json
    assert sent["response_format"]["type"] == "json_schema"
    assert set(sent["response_format"]["json_schema"]["schema"]["properties"]) == {"name", "layers"}
    assert "tools" not in sent or not sent["tools"]
    decisions = await hass.services.async_call(
        "jarvis", "get_routing_log", {}, blocking=True, return_response=True
    )
    assert decisions["decisions"][0]["tier"] == "t1"  # type: ignore[index]


async def test_plain_text_task(
    hass: HomeAssistant, session_worker: Worker, servers: tuple[OpenAIServer, OpenAIServer]
) -> None:
    local, cloud = servers
    await _setup(hass, session_worker, local, cloud)
    local.script(CHAT_PATH, oai.error_reply(503, "loading", "server_error"))
    cloud.script(CHAT_PATH, streamed("Bench tidy, printers idle."))
    result = await ai_task.async_generate_data(
        hass, task_name="summary", entity_id=ENTITY_ID, instructions="Summarise the shop"
    )
    assert result.data == "Bench tidy, printers idle."


async def test_invalid_json_is_a_translated_error(
    hass: HomeAssistant, session_worker: Worker, servers: tuple[OpenAIServer, OpenAIServer]
) -> None:
    local, cloud = servers
    await _setup(hass, session_worker, local, cloud)
    local.script(CHAT_PATH, oai.error_reply(500, "boom", "server_error"))
    cloud.script(CHAT_PATH, streamed("not json at all"))
    with pytest.raises(HomeAssistantError) as err:
        await ai_task.async_generate_data(
            hass,
            task_name="plan",
            entity_id=ENTITY_ID,
            instructions="Describe",
            structure=STRUCTURE,
        )
    assert err.value.translation_key == "ai_task_not_json"


async def test_no_model_answers(
    hass: HomeAssistant, session_worker: Worker, servers: tuple[OpenAIServer, OpenAIServer]
) -> None:
    local, cloud = servers
    await _setup(hass, session_worker, local, cloud)
    local.script(CHAT_PATH, oai.error_reply(500, "boom", "server_error"))
    cloud.script(CHAT_PATH, oai.error_reply(500, "boom", "server_error"))
    with pytest.raises(HomeAssistantError) as err:
        await ai_task.async_generate_data(
            hass, task_name="x", entity_id=ENTITY_ID, instructions="Describe"
        )
    assert err.value.translation_key == "ai_task_failed"
