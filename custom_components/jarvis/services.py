"""Jarvis services (actions). Registered once in async_setup, per the action-setup rule."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service
import voluptuous as vol

from .addon.client import AddonAuthError, AddonError
from .const import ATTR_CONFIG_ENTRY_ID, DOMAIN, SERVICE_GET_ADDON_STATUS, SERVICE_GET_ROUTING_LOG
from .coordinator import JarvisConfigEntry
from .printer_services import async_setup_printer_services
from .routing_log import FILTERS, RoutingLogQueryError, async_query, parse_filters

GET_ADDON_STATUS_SCHEMA = vol.Schema({vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})


def addon_call_error(err: AddonError, url: str) -> HomeAssistantError:
    """What an action says when the add-on refused its token or could not be reached."""
    if isinstance(err, AddonAuthError):
        return HomeAssistantError(translation_domain=DOMAIN, translation_key="addon_auth_failed")
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="addon_unreachable",
        translation_placeholders={"url": url, "error": str(err)},
    )


def loaded_entry(hass: HomeAssistant, entry_id: str | None) -> JarvisConfigEntry:
    """The entry a call targets: the given one, or the only one there is."""
    if entry_id is None:
        entries = hass.config_entries.async_loaded_entries(DOMAIN)
        if len(entries) != 1:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="entry_required",
                translation_placeholders={"count": str(len(entries))},
            )
        return entries[0]
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry_id": entry_id},
        )
    return entry


async def _get_addon_status(call: ServiceCall) -> ServiceResponse:
    entry = loaded_entry(call.hass, call.data.get(ATTR_CONFIG_ENTRY_ID))
    client = entry.runtime_data.client
    try:
        health = await client.verify()
    except AddonError as err:
        raise addon_call_error(err, client.url) from err
    result: dict[str, Any] = {
        "config_entry_id": entry.entry_id,
        "url": client.url,
        "version": health.version,
        "instance_id": health.instance_id,
        "mqtt_connected": health.mqtt_connected,
        "mqtt_reconnects": health.mqtt_reconnects,
        "uptime_s": health.uptime_s,
    }
    return result


# routing_log.parse_filters checks the filters (and reports unknown ones), exactly as for the HTTP
# API, so that a bad one raises `invalid_log_filter` naming it and saying why.
GET_ROUTING_LOG_SCHEMA = vol.Schema(
    {vol.Optional(name): cv.match_all for name in FILTERS}, extra=vol.ALLOW_EXTRA
)


async def _get_routing_log(call: ServiceCall) -> ServiceResponse:
    try:
        query = parse_filters(call.hass, call.data)
    except RoutingLogQueryError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_log_filter",
            translation_placeholders={"field": err.field, "problem": str(err)},
        ) from err
    entry = loaded_entry(call.hass, query.config_entry_id)
    return await async_query(call.hass, entry, query)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every Jarvis service."""
    # The log holds every user's requests: admins only (calls without a user, such as
    # automations, are allowed), as for GET /api/jarvis/routing/logs.
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_GET_ROUTING_LOG,
        _get_routing_log,
        schema=GET_ROUTING_LOG_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    async_setup_printer_services(hass)
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_ADDON_STATUS,
        _get_addon_status,
        schema=GET_ADDON_STATUS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
