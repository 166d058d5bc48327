"""The tests' shop light: a template light over an input_boolean, which scenes can switch."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component


async def async_setup_shop_light(hass: HomeAssistant) -> None:
    """`light.shop`, on while `input_boolean.shop_light` is on."""
    assert await async_setup_component(hass, "input_boolean", {"input_boolean": {"shop_light": {}}})
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "light": [
                        {
                            "name": "Shop",
                            "state": "{{ is_state('input_boolean.shop_light', 'on') }}",
                            "turn_on": {
                                "action": "input_boolean.turn_on",
                                "target": {"entity_id": "input_boolean.shop_light"},
                            },
                            "turn_off": {
                                "action": "input_boolean.turn_off",
                                "target": {"entity_id": "input_boolean.shop_light"},
                            },
                        }
                    ]
                }
            ]
        },
    )
