"""Night lockdown: at the set time the hazardous power goes off, doors lock, someone is told."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from .helpers import notifications, setup_automation


async def test_lockdown_at_the_set_time(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    ws = await hass_ws_client()
    # Two minutes from now, whole seconds (the clock is only moved for HA's timers, see below).
    at = (dt_util.now() + timedelta(minutes=2)).replace(microsecond=0)
    assert await async_setup_component(
        hass,
        "input_boolean",
        {
            "input_boolean": {
                "laser_power": {"name": "Laser power", "initial": True},
                "cnc_power": {"name": "CNC power", "initial": False},
                "door_bolt": {"name": "Door bolt", "initial": False},
            }
        },
    )
    # A real lock entity (template lock over the bolt), as a door lock would be.
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "lock": [
                        {
                            "name": "Laser room door",
                            "state": "{{ is_state('input_boolean.door_bolt', 'on') }}",
                            "lock": {
                                "action": "input_boolean.turn_on",
                                "target": {"entity_id": "input_boolean.door_bolt"},
                            },
                            "unlock": {
                                "action": "input_boolean.turn_off",
                                "target": {"entity_id": "input_boolean.door_bolt"},
                            },
                        }
                    ]
                }
            ]
        },
    )
    await hass.async_block_till_done()
    assert hass.states.get("lock.laser_room_door").state == "unlocked"
    await setup_automation(
        hass,
        "night_lockdown",
        {
            "at": at.strftime("%H:%M:%S"),
            "power": ["input_boolean.laser_power", "input_boolean.cnc_power"],
            "locks": ["lock.laser_room_door"],
        },
    )
    # Not yet.
    assert hass.states.get("input_boolean.laser_power").state == "on"

    async_fire_time_changed(hass, at)
    await hass.async_block_till_done()

    assert hass.states.get("input_boolean.laser_power").state == "off"
    assert hass.states.get("lock.laser_room_door").state == "locked"
    (note,) = await notifications(ws)
    assert note["title"] == "Night lockdown"
    assert "1 machine(s) powered off (input_boolean.laser_power)" in note["message"]
    assert "1 door(s) locked (lock.laser_room_door)" in note["message"]
    # The next night, with everything already safe, it only reports.
    async_fire_time_changed(hass, at + timedelta(days=1))
    await hass.async_block_till_done()
    notes = await notifications(ws)
    assert len(notes) == 2
    assert "0 machine(s) powered off, 0 door(s) locked." in notes[-1]["message"]
