"""CV events from the add-on reach HA: real Mosquitto, HA's MQTT integration, the Jarvis entry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
from typing import Any

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.jarvis.const import EVENT_CV
from custom_components.jarvis.cv_events import parse_cv_event
from tests.support.ha_mqtt import async_setup_mqtt
from tests.support.mosquitto import Mosquitto
from tests.support.worker import Worker

EVENT = {
    "camera": "mk4_cam",
    "printer_id": "mk4",
    "level": "failure",
    "kind": "spaghetti",
    "score": 1.42,
    "box": [0.1, 0.2, 0.3, 0.4],
    "paused": True,
    "pause_error": None,
    "evidence": {
        "path": "/share/jarvis/cv/mk4_cam/x.jpg",
        "sha256": "ab" * 32,
        "width": 640,
        "height": 480,
    },
    "failure_scene": "scene.print_failed",
    "time": "2026-11-26T05:00:00+00:00",
}


async def _wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


async def test_mqtt_event_fires_ha_event_and_runs_the_scene(
    hass: HomeAssistant,
    mosquitto: Mosquitto,
    session_worker: Worker,
    entry_for: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mqtt_entry = await async_setup_mqtt(hass, mosquitto)
    assert await async_setup_component(hass, "input_boolean", {"input_boolean": {"lamp": {}}})
    assert await async_setup_component(
        hass,
        "scene",
        {"scene": [{"name": "print_failed", "entities": {"input_boolean.lamp": "on"}}]},
    )
    entry = entry_for(session_worker)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    events = async_capture_events(hass, EVENT_CV)

    # The subscription is made in the background once MQTT is up; publish until it is live.
    async def publish(payload: dict[str, Any] | str, camera: str = "mk4_cam") -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        await mqtt.async_publish(hass, f"jarvis/cv/{camera}/event", text, qos=1)

    for _ in range(100):
        await publish({**EVENT, "level": "warning", "failure_scene": None})
        await asyncio.sleep(0.1)
        if events:
            break
    assert events[0].data["level"] == "warning" and events[0].data["camera"] == "mk4_cam"
    assert hass.states.get("input_boolean.lamp").state == "off"  # warnings run no scene

    events.clear()
    await publish(EVENT)
    await _wait_for(lambda: bool(events))
    data = events[0].data
    assert data["evidence"]["sha256"] == "ab" * 32 and data["paused"] is True
    assert data["kind"] == "spaghetti" and data["printer_id"] == "mk4"
    await _wait_for(lambda: hass.states.get("input_boolean.lamp").state == "on")

    # Bad messages fire nothing; a scene that does not exist is logged, not run.
    events.clear()
    await publish("not json")
    await publish({"camera": "mk4_cam"})
    await publish({**EVENT, "failure_scene": "scene.missing"}, camera="voron")
    await _wait_for(lambda: "scene.missing does not exist" in caplog.text)
    assert [e.data["camera"] for e in events] == ["voron"]
    assert "not JSON" in caplog.text and "no level" in caplog.text

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await hass.config_entries.async_unload(mqtt_entry.entry_id)


def test_parse_cv_event() -> None:
    assert parse_cv_event("jarvis/cv/a/event", b"[1]") is None
    parsed = parse_cv_event(
        "jarvis/cv/cam2/event", json.dumps({**EVENT, "failure_scene": "script.x"})
    )
    assert parsed is not None and parsed["camera"] == "cam2" and parsed["failure_scene"] is None
