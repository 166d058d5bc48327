"""Set up Jarvis with provider and agent subentries pointing at loopback provider servers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import json
from typing import Any

from homeassistant.const import CONF_API_KEY, CONF_LLM_HASS_API, CONF_URL
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import llm
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.jarvis.const import (
    CONF_KIND,
    CONF_MODEL,
    CONF_PRICE_INPUT,
    CONF_PRICE_OUTPUT,
    CONF_PRICE_PER_REQUEST,
    CONF_TIMEOUT,
    RECOMMENDED_CONVERSATION,
    SUBENTRY_CONVERSATION,
    SUBENTRY_PROVIDER,
)
from tests.support.fake_providers import openai as oai
from tests.support.fake_providers.base import Reply
from tests.support.jarvis_entry import async_setup_jarvis
from tests.support.worker import Worker

AGENT_ID = "conversation.jarvis"
LIGHT = "light.kitchen_light"


def provider(
    title: str,
    kind: str,
    url: str,
    *,
    price_in: float = 0.0,
    price_out: float = 0.0,
    model: str = "m",
) -> dict[str, Any]:
    """subentries_data for one provider."""
    return {
        "subentry_type": SUBENTRY_PROVIDER,
        "title": title,
        "unique_id": None,
        "data": {
            CONF_KIND: kind,
            CONF_URL: url,
            CONF_API_KEY: "sk-test",
            CONF_MODEL: model,
            CONF_PRICE_INPUT: price_in,
            CONF_PRICE_OUTPUT: price_out,
            CONF_PRICE_PER_REQUEST: 0.0,
            CONF_TIMEOUT: 10,
        },
    }


def agent(**overrides: Any) -> dict[str, Any]:
    """subentries_data for the conversation agent (recommended policy + Assist tools)."""
    return {
        "subentry_type": SUBENTRY_CONVERSATION,
        "title": "Jarvis",
        "unique_id": None,
        "data": {**RECOMMENDED_CONVERSATION, CONF_LLM_HASS_API: [llm.LLM_API_ASSIST], **overrides},
    }


@dataclass
class Shop:
    """What a routing test works with."""

    entry: MockConfigEntry
    light_on_calls: list[ServiceCall]


async def setup_shop(
    hass: HomeAssistant, worker: Worker, subentries: Sequence[dict[str, Any]]
) -> Shop:
    """HA with conversation + intents, one exposed light, and Jarvis with these subentries."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "intent", {})
    hass.states.async_set(LIGHT, "off", {"friendly_name": "Kitchen light"})
    calls = async_mock_service(hass, "light", "turn_on")
    entry = await async_setup_jarvis(hass, worker, subentries)
    return Shop(entry=entry, light_on_calls=calls)


def confident(text: str) -> Any:
    """A local answer whose tokens the model was sure of."""
    tokens = [oai.token_logprob(t, -0.01, [(t, -0.01), ("x", -6.0)]) for t in text.split()]
    return oai.completion(text, logprobs=tokens, usage_body=oai.usage(40, len(tokens)))


def unsure(text: str) -> Any:
    """A local answer whose tokens were coin flips."""
    tokens = [oai.token_logprob(t, -1.2, [(t, -1.2), ("y", -1.3)]) for t in text.split()]
    return oai.completion(text, logprobs=tokens, usage_body=oai.usage(40, len(tokens)))


def streamed(text: str, usage_body: dict[str, Any] | None = None) -> Reply:
    """The final candidate streams: its answer as SSE chunks, word by word, usage last."""
    words = text.split(" ")
    pieces = [w if i == 0 else f" {w}" for i, w in enumerate(words)]
    chunks = [*oai.text_chunks(pieces), oai.usage_chunk(usage_body or oai.usage(20, len(words)))]
    return oai.stream_reply(chunks)


def streamed_tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> Reply:
    """A streamed tool call (arguments in two fragments)."""
    raw = json.dumps(arguments)
    half = len(raw) // 2
    chunks = oai.tool_call_chunks([(call_id, name, [raw[:half], raw[half:]])])
    return oai.stream_reply([*chunks, oai.usage_chunk(oai.usage(30, 8))])
