"""Base entity for Jarvis: every entity belongs to the add-on's device."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .agent import RoutingAgent
from .const import CONF_ADDON_SLUG, DOMAIN
from .coordinator import JarvisAddonCoordinator, JarvisConfigEntry


class JarvisEntity(CoordinatorEntity[JarvisAddonCoordinator]):
    """An entity of the Jarvis add-on device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: JarvisAddonCoordinator, description: EntityDescription) -> None:
        """Name the entity after its description, under the add-on's device."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.config_entry.unique_id}_{description.key}"
        self._attr_device_info = addon_device_info(coordinator)


def addon_device_info(coordinator: JarvisAddonCoordinator) -> DeviceInfo:
    """The add-on's device, in full: whichever platform adds its first entity creates it.

    A bare identifiers link would leave the device nameless (and the entity ids unprefixed)
    when that platform happens to be set up first.
    """
    entry = coordinator.config_entry
    return DeviceInfo(
        identifiers={(DOMAIN, str(entry.unique_id))},
        name="Jarvis add-on",
        manufacturer="Jarvis",
        model="Workshop add-on",
        sw_version=coordinator.data.version if coordinator.data else None,
        configuration_url=configuration_url(entry.data),
    )


def configuration_url(data: Mapping[str, Any]) -> str:
    """Where a person opens the add-on: its Supervisor page if discovered, else its own URL."""
    if slug := data.get(CONF_ADDON_SLUG):
        return f"homeassistant://hassio/addon/{slug}/info"
    return str(data[CONF_URL])


class JarvisRoutingEntity(Entity):
    """An entity of one agent or AI task subentry: its own service device, its own router."""

    _attr_has_entity_name = True
    _attr_name = None
    _device_model = "Routing agent"

    def __init__(
        self, hass: HomeAssistant, entry: JarvisConfigEntry, subentry: ConfigSubentry
    ) -> None:
        """Bind to the subentry's routing policy."""
        self._agent = RoutingAgent(hass, entry, subentry)
        self._attr_unique_id = subentry.subentry_id
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry.subentry_id)},
            name=subentry.title,
            manufacturer="Jarvis",
            model=self._device_model,
            entry_type=DeviceEntryType.SERVICE,
        )
