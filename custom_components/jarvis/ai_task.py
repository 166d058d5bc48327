"""AI Task entities (generate data, structured output), served by the same router."""

from __future__ import annotations

from homeassistant.components import ai_task, conversation
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .agent import RoutingAgent
from .const import DOMAIN, SUBENTRY_AI_TASK
from .coordinator import JarvisConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: JarvisConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One AI Task entity per ai_task_data subentry."""
    for subentry in entry.subentries.values():
        if subentry.subentry_type == SUBENTRY_AI_TASK:
            async_add_entities(
                [JarvisAITaskEntity(hass, entry, subentry)],
                config_subentry_id=subentry.subentry_id,
            )


class JarvisAITaskEntity(ai_task.AITaskEntity):
    """Generates data with the cheapest good-enough model tier."""

    _attr_has_entity_name = True
    _attr_name = None
    _attr_supported_features = ai_task.AITaskEntityFeature.GENERATE_DATA

    def __init__(
        self, hass: HomeAssistant, entry: JarvisConfigEntry, subentry: ConfigSubentry
    ) -> None:
        """Bind to the subentry's routing policy."""
        self._agent = RoutingAgent(hass, entry, subentry)
        self._attr_unique_id = subentry.subentry_id
        self._attr_device_info = dr.DeviceInfo(
            identifiers={(DOMAIN, subentry.subentry_id)},
            name=subentry.title,
            manufacturer="Jarvis",
            model="Routing AI task",
            entry_type=dr.DeviceEntryType.SERVICE,
        )

    async def _async_generate_data(
        self, task: ai_task.GenDataTask, chat_log: conversation.ChatLog
    ) -> ai_task.GenDataTaskResult:
        return await self._agent.async_generate_data(task, chat_log, self.entity_id)
