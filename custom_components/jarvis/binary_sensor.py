"""Add-on connectivity: the add-on's MQTT last will when MQTT is set up, its health poll otherwise."""

from __future__ import annotations

from homeassistant.components import mqtt
from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import LOGGER, MQTT_STATUS_TOPIC, STATUS_OFFLINE, STATUS_ONLINE
from .coordinator import JarvisAddonCoordinator, JarvisConfigEntry
from .entity import JarvisEntity

PARALLEL_UPDATES = 0  # coordinator-driven: no per-entity polling

CONNECTIVITY = BinarySensorEntityDescription(
    key="addon_connectivity",
    translation_key="addon_connectivity",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: JarvisConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the add-on's connectivity sensor."""
    async_add_entities([AddonConnectivitySensor(entry.runtime_data.coordinator)])


class AddonConnectivitySensor(JarvisEntity, BinarySensorEntity):
    """On while the add-on is alive.

    With MQTT, the add-on's retained `online` and its last will `offline` flip this within
    the broker's keepalive, far sooner than a poll would notice.
    """

    def __init__(self, coordinator: JarvisAddonCoordinator) -> None:
        """Start in poll mode until MQTT proves available."""
        super().__init__(coordinator, CONNECTIVITY)
        self._mqtt_status: str | None = None
        self._uses_mqtt = False

    async def async_added_to_hass(self) -> None:
        """Subscribe to the add-on's status topic when HA's MQTT client is up."""
        await super().async_added_to_hass()
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            LOGGER.debug("MQTT not set up: add-on connectivity follows the health poll")
            return
        self._uses_mqtt = True
        self.async_on_remove(
            await mqtt.async_subscribe(self.hass, MQTT_STATUS_TOPIC, self._on_status, qos=1)
        )

    @callback
    def _on_status(self, msg: mqtt.ReceiveMessage) -> None:
        payload = (
            msg.payload if isinstance(msg.payload, str) else msg.payload.decode(errors="replace")
        )
        if payload not in (STATUS_ONLINE, STATUS_OFFLINE):
            LOGGER.warning("Ignoring unexpected payload on %s: %r", MQTT_STATUS_TOPIC, payload[:64])
            return
        self._mqtt_status = payload
        self.async_write_ha_state()

    @property
    def available(self) -> bool:
        """Always: an unreachable add-on is this sensor's `off`, not its absence."""
        return True

    @property
    def is_on(self) -> bool | None:
        """Online per MQTT status, or per the last health poll."""
        if self._uses_mqtt:
            return None if self._mqtt_status is None else self._mqtt_status == STATUS_ONLINE
        return self.coordinator.last_update_success
