"""Jarvis: runs a fabrication workshop from Home Assistant Assist."""

from __future__ import annotations

from homeassistant.const import CONF_URL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .addon.client import AddonClient
from .const import CONF_API_TOKEN, DOMAIN
from .coordinator import JarvisAddonCoordinator, JarvisConfigEntry, JarvisRuntimeData
from .services import async_setup_services

PLATFORMS: tuple[Platform, ...] = (Platform.BINARY_SENSOR,)
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's services (once, independent of entries)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: JarvisConfigEntry) -> bool:
    """Connect to the add-on; retry later if it is not up yet."""
    client = AddonClient(
        async_get_clientsession(hass), entry.data[CONF_URL], entry.data[CONF_API_TOKEN]
    )
    coordinator = JarvisAddonCoordinator(hass, entry, client)
    # Raises ConfigEntryNotReady (retry) or ConfigEntryAuthFailed (reauth) for us.
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = JarvisRuntimeData(client=client, coordinator=coordinator)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: JarvisConfigEntry) -> bool:
    """Unload the entry's platforms."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
