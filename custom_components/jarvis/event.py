"""Event entity: every safety decision (requested, approved, denied, expired, executed, refused)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import JarvisConfigEntry
from .entity import addon_device_info
from .safety.const import SIGNAL_SAFETY_UPDATE

DECISIONS = [
    "requested",
    "approved",
    "denied",
    "expired",
    "executed",
    "failed",
    "refused",
    "key_rotated",
]


async def async_setup_entry(
    hass: HomeAssistant,
    entry: JarvisConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One event entity per entry."""
    async_add_entities([SafetyDecisionEvent(entry)])


class SafetyDecisionEvent(EventEntity):
    """Fires once per audit record."""

    _attr_has_entity_name = True
    _attr_translation_key = "safety_decision"
    _attr_event_types = DECISIONS
    _attr_should_poll = False

    def __init__(self, entry: JarvisConfigEntry) -> None:
        """Belongs to the Jarvis add-on device."""
        self._entry_id = entry.entry_id
        self._attr_unique_id = f"{entry.unique_id}_safety_decision"
        self._attr_device_info = addon_device_info(entry.runtime_data.coordinator)

    async def async_added_to_hass(self) -> None:
        """Listen to the gate."""
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, SIGNAL_SAFETY_UPDATE.format(self._entry_id), self._decided
            )
        )

    @callback
    def _decided(self, kind: str, record: dict[str, Any] | None) -> None:
        if record is None or kind not in DECISIONS:
            return
        self._trigger_event(kind, {"seq": record["seq"], "hash": record["hash"], **record["data"]})
        self.async_write_ha_state()
