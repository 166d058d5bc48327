"""Add-on connectivity sensor in poll mode (no MQTT in HA): follows the health poll."""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.jarvis.const import HEALTH_INTERVAL
from tests.support.worker import Worker

ENTITY_ID = "binary_sensor.jarvis_add_on_add_on_connectivity"


async def test_connectivity_follows_health_poll(
    hass: HomeAssistant, worker: Worker, entry_for: Any, freezer: FrozenDateTimeFactory
) -> None:
    """On while health answers, off (not unavailable) when the add-on is gone, on again after."""
    entry = entry_for(worker)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    state = hass.states.get(ENTITY_ID)
    assert state is not None, hass.states.async_entity_ids("binary_sensor")
    assert state.state == STATE_ON
    assert state.attributes["device_class"] == "connectivity"
    assert state.attributes["friendly_name"] == "Jarvis add-on Add-on connectivity"

    reg_entry = er.async_get(hass).async_get(ENTITY_ID)
    assert reg_entry is not None
    assert reg_entry.entity_category is EntityCategory.DIAGNOSTIC
    assert reg_entry.unique_id == f"{entry.unique_id}_addon_connectivity"
    device = dr.async_get(hass).async_get(reg_entry.device_id)
    assert device is not None
    assert device.sw_version == worker.health()["version"]
    assert device.configuration_url == worker.url

    worker.stop()
    freezer.tick(HEALTH_INTERVAL)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(ENTITY_ID).state == STATE_OFF

    worker.start()
    freezer.tick(HEALTH_INTERVAL)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(ENTITY_ID).state == STATE_ON
