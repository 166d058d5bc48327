"""Context outlives HA's 5-minute chat sessions and restarts, and is mirrored to MQTT."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import conversation, mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Context, HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from tests.support.fake_providers import openai as oai
from tests.support.fake_providers.base import Reply
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer
from tests.support.ha_mqtt import async_setup_mqtt
from tests.support.mosquitto import Mosquitto
from tests.support.worker import Worker

from .routing_helpers import (
    AGENT_ID,
    LIGHT,
    agent,
    provider,
    setup_shop,
    streamed,
    streamed_tool_call,
)


@pytest.fixture
async def local() -> AsyncGenerator[OpenAIServer]:
    """The local model's server."""
    server = await OpenAIServer().start()
    yield server
    await server.stop()


def _turn_off_call() -> Reply:
    # The local model is the only candidate, so it streams.
    return streamed_tool_call("t1", "HassTurnOff", {"name": "Kitchen light"})


def _text(text: str) -> Reply:
    """A follow-up round (after tools) or a final streamed answer, as the request asks."""
    return Reply(json=oai.completion(text))


def _user_texts(request_json: Any) -> list[str]:
    return [m["content"] for m in request_json["messages"] if m["role"] == "user"]


async def _expire_sessions(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let HA's chat-session cleanup forget every conversation (5 minutes idle)."""
    freezer.tick(timedelta(minutes=6))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def _converse(
    hass: HomeAssistant, text: str, conversation_id: str | None = None, device_id: str | None = None
) -> conversation.ConversationResult:
    return await conversation.async_converse(
        hass,
        text,
        conversation_id,
        Context(),
        language="en",
        agent_id=AGENT_ID,
        device_id=device_id,
    )


async def test_follow_up_after_expiry_and_restart(
    hass: HomeAssistant, session_worker: Worker, local: OpenAIServer, freezer: FrozenDateTimeFactory
) -> None:
    shop = await setup_shop(
        hass, session_worker, [provider("llama", "openai_compatible", local.base_url), agent()]
    )
    off_calls = async_mock_service(hass, "light", "turn_off")

    first = await _converse(hass, "turn on the kitchen light")
    assert first.response.response_type.value == "action_done"
    assert len(shop.light_on_calls) == 1

    await _expire_sessions(hass, freezer)
    local.script(CHAT_PATH, _turn_off_call(), _text("Done, it is off."))
    second = await _converse(hass, "turn it off", first.conversation_id)
    # HA started a new session (new id); Jarvis carried the earlier turns into it.
    assert second.conversation_id != first.conversation_id
    assert _user_texts(local.requests_to(CHAT_PATH)[0].json) == [
        "turn on the kitchen light",
        "turn it off",
    ]
    assert [c.data["entity_id"] for c in off_calls] == [[LIGHT]]

    # "Restart": the entry unloads (context flushed to disk) and loads again; HA forgot everything.
    entry = shop.entry
    assert await hass.config_entries.async_unload(entry.entry_id)
    await _expire_sessions(hass, freezer)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    local.script(CHAT_PATH, streamed("You turned the kitchen light on, then off."))
    await _converse(hass, "what did I ask you to do?", second.conversation_id)
    assert _user_texts(local.requests[-1].json) == [
        "turn on the kitchen light",
        "turn it off",
        "what did I ask you to do?",
    ]


async def test_satellite_follow_up_without_conversation_id(
    hass: HomeAssistant, session_worker: Worker, local: OpenAIServer, freezer: FrozenDateTimeFactory
) -> None:
    """A satellite that starts over (no conversation id) within 30 minutes keeps its context."""
    await setup_shop(
        hass, session_worker, [provider("llama", "openai_compatible", local.base_url), agent()]
    )
    async_mock_service(hass, "light", "turn_off")
    await _converse(hass, "turn on the kitchen light", device_id="satellite-workbench")
    await _expire_sessions(hass, freezer)
    local.script(CHAT_PATH, _turn_off_call(), _text("Off."))
    await _converse(hass, "turn it off", device_id="satellite-workbench")
    assert _user_texts(local.requests_to(CHAT_PATH)[0].json) == [
        "turn on the kitchen light",
        "turn it off",
    ]

    # Another device does not inherit it.
    local.script(CHAT_PATH, streamed("Off what?"))
    await _converse(hass, "turn it off", device_id="satellite-door")
    assert _user_texts(local.requests[-1].json) == ["turn it off"]


async def _shop_with_mqtt(
    hass: HomeAssistant, worker: Worker, local: OpenAIServer, mosquitto: Mosquitto
) -> MockConfigEntry:
    """HA's MQTT integration on the real broker, then Jarvis with one local model."""
    mqtt_entry = await async_setup_mqtt(hass, mosquitto)
    await setup_shop(
        hass, worker, [provider("llama", "openai_compatible", local.base_url), agent()]
    )
    return mqtt_entry


async def test_context_is_mirrored_to_mqtt(
    hass: HomeAssistant,
    session_worker: Worker,
    local: OpenAIServer,
    mosquitto: Mosquitto,
    tmp_path: Path,
) -> None:
    mqtt_entry = await _shop_with_mqtt(hass, session_worker, local, mosquitto)
    received: list[mqtt.ReceiveMessage] = []
    unsubscribe = await mqtt.async_subscribe(hass, "jarvis/ctx/#", received.append, qos=1)

    result = await _converse(hass, "turn on the kitchen light")
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.05)
    assert received, "nothing arrived on jarvis/ctx/#"
    message = received[-1]
    assert message.topic == f"jarvis/ctx/{result.conversation_id}"
    payload = json.loads(message.payload)
    assert [t["role"] for t in payload["turns"]] == ["user", "assistant"]
    assert payload["turns"][0]["content"] == "turn on the kitchen light"
    assert payload["last_decision"]["tier"] == "t0"
    unsubscribe()

    # Retained: a dashboard subscribing later still gets the conversation.
    late: list[mqtt.ReceiveMessage] = []
    unsubscribe = await mqtt.async_subscribe(hass, message.topic, late.append, qos=1)
    for _ in range(100):
        if late:
            break
        await asyncio.sleep(0.05)
    assert late and late[0].retain is True
    assert json.loads(late[0].payload)["conversation_id"] == result.conversation_id
    unsubscribe()
    assert await hass.config_entries.async_unload(mqtt_entry.entry_id)


async def _messages(received: list[mqtt.ReceiveMessage], count: int) -> None:
    for _ in range(100):
        if len(received) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(received)} of {count} MQTT messages arrived")


async def test_device_actions_are_mirrored_to_mqtt(
    hass: HomeAssistant,
    session_worker: Worker,
    local: OpenAIServer,
    mosquitto: Mosquitto,
) -> None:
    """Both t0 actions and model tool calls land on jarvis/devices/<device>/cmd, as mirrors."""
    mqtt_entry = await _shop_with_mqtt(hass, session_worker, local, mosquitto)
    async_mock_service(hass, "light", "turn_off")
    received: list[mqtt.ReceiveMessage] = []
    unsubscribe = await mqtt.async_subscribe(hass, "jarvis/devices/#", received.append, qos=1)
    # HA sends subscriptions after a short debounce and mirrors are not retained: wait until the
    # subscription is live (a probe comes back) before anything is mirrored.
    for _ in range(100):
        await mqtt.async_publish(hass, "jarvis/devices/probe/cmd", "{}", qos=1)
        await asyncio.sleep(0.1)
        if received:
            break
    assert received, "the subscription never went live"
    await asyncio.sleep(0.3)  # probes still in flight
    received.clear()

    t0 = await _converse(hass, "turn on the kitchen light")
    await _messages(received, 1)
    first = json.loads(received[0].payload)
    assert received[0].topic == f"jarvis/devices/{LIGHT}/cmd"  # no HA device: the entity
    assert first["command"] == "HassTurnOn"
    assert first["mirror"] is True
    assert first["entity_id"] == LIGHT
    assert first["conversation_id"] == t0.conversation_id

    local.script(CHAT_PATH, _turn_off_call(), _text("Off."))
    await _converse(hass, "make the kitchen dark please, thank you")
    await _messages(received, 2)
    second = json.loads(received[1].payload)
    assert second["command"] == "HassTurnOff"
    assert second["args"] == {"name": "Kitchen light"}
    assert second["request_id"].endswith("-0")
    assert received[1].retain is False
    unsubscribe()
    assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
