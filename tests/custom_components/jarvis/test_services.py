"""jarvis.get_addon_status: response data and translated errors."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component
import pytest

from custom_components.jarvis.const import DOMAIN, SERVICE_GET_ADDON_STATUS
from tests.support.worker import Worker


async def _call(hass: HomeAssistant, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, SERVICE_GET_ADDON_STATUS, data, blocking=True, return_response=True
    )


async def test_status_of_the_only_entry(
    hass: HomeAssistant, session_worker: Worker, entry_for: Any
) -> None:
    entry = entry_for(session_worker)
    assert await hass.config_entries.async_setup(entry.entry_id)
    response = await _call(hass)
    health = session_worker.health()
    assert response["config_entry_id"] == entry.entry_id
    assert response["instance_id"] == health["instance_id"]
    assert response["version"] == health["version"]
    assert response["mqtt_connected"] is True
    assert response["url"] == session_worker.url
    assert response["uptime_s"] > 0
    assert await _call(hass, config_entry_id=entry.entry_id) | {"uptime_s": 0} == response | {
        "uptime_s": 0
    }


async def test_errors_are_translated(
    hass: HomeAssistant, worker: Worker, session_worker: Worker, entry_for: Any
) -> None:
    """Each misuse names its problem through a translation key."""
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass)
    assert err.value.translation_key == "entry_required"

    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, config_entry_id="nope")
    assert err.value.translation_key == "entry_not_found"

    entry = entry_for(worker)
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, config_entry_id=entry.entry_id)
    assert err.value.translation_key == "entry_not_loaded"

    assert await hass.config_entries.async_setup(entry.entry_id)
    other = entry_for(session_worker)
    assert await hass.config_entries.async_setup(other.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass)
    assert err.value.translation_key == "entry_required"
    assert err.value.translation_placeholders == {"count": "2"}

    worker.stop()
    with pytest.raises(HomeAssistantError) as err:
        await _call(hass, config_entry_id=entry.entry_id)
    assert err.value.translation_key == "addon_unreachable"
    assert worker.url in str(err.value)


async def test_rejected_token(hass: HomeAssistant, session_worker: Worker, entry_for: Any) -> None:
    entry = entry_for(session_worker)
    assert await hass.config_entries.async_setup(entry.entry_id)
    entry.runtime_data.client._token = "revoked"
    with pytest.raises(HomeAssistantError) as err:
        await _call(hass, config_entry_id=entry.entry_id)
    assert err.value.translation_key == "addon_auth_failed"
