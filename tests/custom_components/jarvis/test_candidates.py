"""Candidates between requests, and what a local Ollama server says about its model.

Real HA, the real add-on worker; Ollama and OpenAI are their official SDKs talking to loopback
servers that speak each wire format.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from homeassistant.components import conversation
from homeassistant.core import Context, HomeAssistant
import pytest

from custom_components.jarvis.const import CONF_MODEL
from tests.support.fake_providers import ollama as oll
from tests.support.fake_providers.base import json_reply
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer
from tests.support.worker import Worker

from .routing_helpers import AGENT_ID, agent, provider, setup_shop, streamed


@pytest.fixture
async def ollama() -> AsyncGenerator[oll.OllamaServer]:
    server = await oll.OllamaServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def cloud() -> AsyncGenerator[OpenAIServer]:
    server = await OpenAIServer().start()
    yield server
    await server.stop()


def _subentries(ollama: oll.OllamaServer, cloud: OpenAIServer | None) -> list[dict[str, Any]]:
    subs = [provider("workshop", "ollama", ollama.url, model=oll.MODEL)]
    if cloud is not None:
        subs.append(provider("gpt", "openai", cloud.base_url, price_in=1.0, price_out=4.0))
    return [*subs, agent()]


async def _ask(hass: HomeAssistant, text: str) -> str:
    result = await conversation.async_converse(
        hass, text, None, Context(), language="en", agent_id=AGENT_ID
    )
    return str(result.response.speech["plain"]["speech"])


async def _last(hass: HomeAssistant) -> dict[str, Any]:
    response = await hass.services.async_call(
        "jarvis", "get_routing_log", {"limit": 1}, blocking=True, return_response=True
    )
    return dict(response["decisions"][0])  # type: ignore[index]


def _warm(ollama: oll.OllamaServer) -> None:
    ollama.default(oll.PS_PATH, json_reply(oll.ps([oll.MODEL])))


def _answers(ollama: oll.OllamaServer, text: str) -> None:
    ollama.default(oll.CHAT_PATH, json_reply(oll.chat(text)))


async def test_a_cold_model_is_skipped_and_loaded_for_the_next_request(
    hass: HomeAssistant, session_worker: Worker, ollama: oll.OllamaServer, cloud: OpenAIServer
) -> None:
    _answers(ollama, "Forty two.")
    cloud.script(CHAT_PATH, streamed("From the cloud."))
    shop = await setup_shop(hass, session_worker, _subentries(ollama, cloud))
    assert await _ask(hass, "what is the answer to everything") == "From the cloud."
    await hass.async_block_till_done()  # the background load
    decision = await _last(hass)
    assert [(a["name"], a["outcome"]) for a in decision["attempts"]] == [
        ("conversation.home_assistant", "no_match"),
        ("workshop", "skipped_cold"),
        ("gpt", "accepted"),
    ]
    assert ollama.requests_to(oll.CHAT_PATH) == []
    (load,) = ollama.requests_to(oll.GENERATE_PATH)
    assert load.json["model"] == oll.MODEL

    # Loaded now: the next request goes to it, and the cloud is not asked again.
    assert await _ask(hass, "what is the answer to everything") == "Forty two."
    assert len(ollama.requests_to(oll.CHAT_PATH)) == 1
    assert len(cloud.requests_to(CHAT_PATH)) == 1
    assert (await _last(hass))["tier"] == "t1"
    # Built once for both requests: one /api/show, no second provider.
    assert len(ollama.requests_to(oll.SHOW_PATH)) == 1
    assert shop.entry.runtime_data.candidates.candidate(
        shop.entry.subentries[next(iter(shop.entry.subentries))]
    ) is shop.entry.runtime_data.candidates.candidate(
        shop.entry.subentries[next(iter(shop.entry.subentries))]
    )


async def test_a_cold_model_with_nothing_after_it_is_used(
    hass: HomeAssistant, session_worker: Worker, ollama: oll.OllamaServer
) -> None:
    # The only candidate is final, so it streams; it loads the model as it answers.
    ollama.default(
        oll.CHAT_PATH,
        oll.stream_reply([oll.chat("Loaded and answering.", load_duration=9_000_000_000)]),
    )
    await setup_shop(hass, session_worker, _subentries(ollama, None))
    assert await _ask(hass, "say something") == "Loaded and answering."
    assert ollama.requests_to(oll.GENERATE_PATH) == []


async def test_a_model_without_tool_support_gets_no_tools(
    hass: HomeAssistant, session_worker: Worker, ollama: oll.OllamaServer, cloud: OpenAIServer
) -> None:
    _warm(ollama)
    ollama.default(oll.SHOW_PATH, json_reply(oll.show(["completion"])))
    _answers(ollama, "Sure, the kitchen light is on now.")
    cloud.script(CHAT_PATH, streamed("Cloud did it."))
    await setup_shop(hass, session_worker, _subentries(ollama, cloud))
    await _ask(hass, "switch on the kitchen lamp over the sink please and dim it")
    (sent,) = ollama.requests_to(oll.CHAT_PATH)
    assert not sent.json.get("tools")
    assert cloud.requests_to(CHAT_PATH)[0].json["tools"]  # the cloud could act
    decision = await _last(hass)
    t1 = decision["attempts"][1]
    assert t1["name"] == "workshop"
    assert t1["outcome"] == "low_confidence"  # it claimed an action it could not do


async def test_a_server_that_cannot_say_is_used_as_configured(
    hass: HomeAssistant, session_worker: Worker, ollama: oll.OllamaServer, cloud: OpenAIServer
) -> None:
    ollama.default(oll.PS_PATH, oll.error_reply(500, "internal error"))
    _answers(ollama, "Forty two.")
    await setup_shop(hass, session_worker, _subentries(ollama, cloud))
    await _ask(hass, "what is the answer to everything")
    assert len(ollama.requests_to(oll.CHAT_PATH)) == 1
    assert all(a["outcome"] != "skipped_cold" for a in (await _last(hass))["attempts"])


async def test_changed_settings_rebuild_the_provider_and_close_the_old_one(
    hass: HomeAssistant, session_worker: Worker, ollama: oll.OllamaServer, cloud: OpenAIServer
) -> None:
    shop = await setup_shop(hass, session_worker, _subentries(ollama, cloud))
    pool = shop.entry.runtime_data.candidates
    subentry = next(
        s for s in shop.entry.subentries.values() if s.data.get(CONF_MODEL) == oll.MODEL
    )
    first = pool.candidate(subentry)
    assert pool.candidate(subentry) is first
    changed = type(subentry)(
        data={**subentry.data, CONF_MODEL: "llama3.2"},
        subentry_type=subentry.subentry_type,
        title=subentry.title,
        unique_id=subentry.unique_id,
        subentry_id=subentry.subentry_id,
    )
    second = pool.candidate(changed)
    assert second is not first
    assert second.provider.model == "llama3.2"
    await hass.async_block_till_done()
    await pool.async_close()
