"""HA's own MQTT integration on a test broker, set up the way the tests need it."""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .mosquitto import Mosquitto


async def async_setup_mqtt(
    hass: HomeAssistant, broker: Mosquitto, *, birth_message: bool = True
) -> MockConfigEntry:
    """HA's MQTT entry on `broker`, loaded; returns the entry (to unload or reload it).

    MQTT reads configuration.yaml at set-up (for YAML-defined entities), so an empty one is
    written first. `birth_message=False`: none is sent. After a broker restart HA publishes it
    from an unawaited task that can fail while the connection settles, which the test harness
    counts as an error.
    """
    Path(hass.config.path("configuration.yaml")).write_text("")
    entry = MockConfigEntry(
        domain="mqtt",
        data={"broker": broker.host, "port": broker.port},
        options={} if birth_message else {"birth_message": {}},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    return entry
