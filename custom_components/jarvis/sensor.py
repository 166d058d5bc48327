"""Sensor: pending safety approvals (count; the requests in the attributes)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import JarvisConfigEntry
from .safety.const import SIGNAL_SAFETY_UPDATE
from .safety.gate import DATA_GATES, SafetyGate


async def async_setup_entry(
    hass: HomeAssistant,
    entry: JarvisConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One sensor per entry's gate."""
    gate = hass.data[DATA_GATES][entry.entry_id]
    async_add_entities([PendingApprovalsSensor(entry, gate)])


class PendingApprovalsSensor(SensorEntity):
    """How many hazardous actions wait for people, and which."""

    _attr_has_entity_name = True
    _attr_translation_key = "pending_approvals"
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_should_poll = False

    def __init__(self, entry: JarvisConfigEntry, gate: SafetyGate) -> None:
        """Belongs to the Jarvis add-on device."""
        self._gate = gate
        self._entry_id = entry.entry_id
        self._attr_unique_id = f"{entry.unique_id}_pending_approvals"
        self._attr_device_info = {"identifiers": {(DOMAIN, str(entry.unique_id))}}

    async def async_added_to_hass(self) -> None:
        """Refresh whenever the gate changes."""
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, SIGNAL_SAFETY_UPDATE.format(self._entry_id), self._changed
            )
        )

    @callback
    def _changed(self, _kind: str, _record: dict[str, Any] | None) -> None:
        self.async_write_ha_state()

    @property
    def native_value(self) -> int:
        """Open requests."""
        return len(self._gate.pending())

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The open requests (no nonces)."""
        return {"requests": [r.public() for r in self._gate.pending()]}
