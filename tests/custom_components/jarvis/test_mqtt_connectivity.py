"""End to end in one HA: real Mosquitto + the real add-on worker + HA's MQTT integration + Jarvis.

Jarvis is added through its config flow; the connectivity sensor then follows the worker's MQTT
status and last will: on, off when the worker is killed (no goodbye), on again when it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
import time

from homeassistant.components import mqtt
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_URL, STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
import pytest

from custom_components.jarvis.const import CONF_API_TOKEN, DOMAIN, MQTT_STATUS_TOPIC
from tests.support.ha_mqtt import async_setup_mqtt
from tests.support.mosquitto import Mosquitto
from tests.support.worker import Worker

from .test_binary_sensor import ENTITY_ID


async def _wait_for(hass: HomeAssistant, check: Callable[[], bool], timeout: float) -> float:
    """Let HA's loop run until check() holds; return how long that took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"not reached in {timeout}s: {hass.states.get(ENTITY_ID)}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def _state(hass: HomeAssistant) -> str | None:
    state = hass.states.get(ENTITY_ID)
    return state.state if state else None


async def test_connectivity_follows_last_will(
    hass: HomeAssistant,
    mosquitto: Mosquitto,
    worker: Worker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # HA's MQTT entry reads configuration.yaml at setup (for YAML-defined MQTT entities).
    hass.config.config_dir = str(tmp_path)
    mqtt_entry = await async_setup_mqtt(hass, mosquitto)
    await hass.async_block_till_done()
    assert mqtt_entry.state is ConfigEntryState.LOADED

    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: worker.url, CONF_API_TOKEN: worker.api_token}
    )
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    # The worker's retained `online` arrives once HA's subscription is live.
    await _wait_for(hass, lambda: _state(hass) == STATE_ON, timeout=10)

    # Anything but online/offline on the status topic is ignored (and logged), not taken as offline.
    await mqtt.async_publish(hass, MQTT_STATUS_TOPIC, "rebooting", qos=1)
    await _wait_for(hass, lambda: "Ignoring unexpected payload" in caplog.text, timeout=5)
    assert _state(hass) == STATE_ON

    # SIGKILL: no graceful `offline`; only the broker's last will can say it. keepalive 2 s -> <= 3 s.
    worker.kill()
    took = await _wait_for(hass, lambda: _state(hass) == STATE_OFF, timeout=10)
    assert took < 6, f"last will took {took:.1f}s"

    worker.start()
    await _wait_for(hass, lambda: _state(hass) == STATE_ON, timeout=15)

    # A graceful stop says `offline` itself, at once.
    worker.stop()
    await _wait_for(hass, lambda: _state(hass) == STATE_OFF, timeout=5)

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
