"""A loaded Jarvis config entry for a running add-on worker, as the tests set one up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.jarvis.const import CONF_API_TOKEN, DOMAIN

from .worker import Worker


async def async_setup_jarvis(
    hass: HomeAssistant, worker: Worker, subentries: Sequence[dict[str, Any]] = ()
) -> MockConfigEntry:
    """Jarvis on `worker` (unique id: its instance id) with these subentries, set up and loaded."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Jarvis",
        unique_id=str(worker.health()["instance_id"]),
        data={CONF_URL: worker.url, CONF_API_TOKEN: worker.api_token},
        subentries_data=list(subentries),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry
