"""Diagnostics: the add-on's health is there, secrets are not."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from tests.support.worker import Worker


async def test_diagnostics_redacts_token(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    session_worker: Worker,
    entry_for: Any,
) -> None:
    entry = entry_for(session_worker)
    assert await hass.config_entries.async_setup(entry.entry_id)
    diag = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diag["entry"]["data"]["api_token"] == "**REDACTED**"
    assert session_worker.api_token not in str(diag)
    assert diag["addon"]["url"] == session_worker.url
    assert diag["addon"]["last_update_success"] is True
    assert diag["addon"]["health"]["instance_id"] == entry.unique_id
