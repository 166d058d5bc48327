"""The pending-approvals sensor (count; the requests in the attributes)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.core import callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect

from ..coordinator import JarvisConfigEntry
from ..entity import addon_device_info
from .const import SIGNAL_SAFETY_UPDATE
from .gate import SafetyGate


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
        self._attr_device_info = addon_device_info(entry.runtime_data.coordinator)

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
