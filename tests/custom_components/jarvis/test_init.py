"""Entry lifecycle against the real worker: setup, retry, reauth, unload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.jarvis.const import CONF_API_TOKEN, DOMAIN
from tests.support.mosquitto import free_port
from tests.support.worker import Worker


async def test_setup_and_unload(
    hass: HomeAssistant, session_worker: Worker, entry_for: Any
) -> None:
    """Loads, stores runtime data, creates the add-on device, unloads cleanly."""
    entry = entry_for(session_worker)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator.data.version
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_setup_retry_when_addon_down(hass: HomeAssistant) -> None:
    """The add-on not up yet: HA retries later instead of failing for good."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="x",
        data={CONF_URL: f"http://127.0.0.1:{free_port()}", CONF_API_TOKEN: "t"},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "cannot be reached" in (entry.reason or "")


async def test_setup_starts_reauth_on_rejected_token(
    hass: HomeAssistant, session_worker: Worker, entry_for: Any
) -> None:
    """A rejected token puts the entry in error and starts a reauth flow."""
    entry = entry_for(session_worker, token="revoked")
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]


async def test_damaged_ledger_is_a_clear_setup_error(
    hass: HomeAssistant, session_worker: Worker, entry_for: Any
) -> None:
    """A corrupt SQLite file: the entry fails with a translated reason naming the file; nothing is overwritten."""
    entry = entry_for(session_worker)
    path = Path(hass.config.path(".storage", f"jarvis_ledger.{entry.entry_id}.db"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a database" * 100)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert str(path) in (entry.reason or "")
    assert path.read_bytes().startswith(b"this is not a database")
