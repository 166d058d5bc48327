"""Diagnostics for a Jarvis entry, secrets redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_API_TOKEN
from .coordinator import JarvisConfigEntry

TO_REDACT = {CONF_API_TOKEN, "password", "token", "api_key"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: JarvisConfigEntry
) -> dict[str, Any]:
    """Entry settings, the add-on's last health report and the poll state."""
    coordinator = entry.runtime_data.coordinator
    return async_redact_data(
        {
            "entry": entry.as_dict(),
            "addon": {
                "url": coordinator.client.url,
                "last_update_success": coordinator.last_update_success,
                "health": coordinator.data.raw if coordinator.data else None,
            },
        },
        TO_REDACT,
    )
