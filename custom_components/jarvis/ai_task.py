"""AI Task entities (generate data, structured output), served by the same router."""

from __future__ import annotations

from homeassistant.components import ai_task, conversation
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import SUBENTRY_AI_TASK
from .coordinator import JarvisConfigEntry
from .entity import JarvisRoutingEntity

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


class JarvisAITaskEntity(JarvisRoutingEntity, ai_task.AITaskEntity):
    """Generates data with the cheapest good-enough model tier."""

    _attr_supported_features = ai_task.AITaskEntityFeature.GENERATE_DATA
    _device_model = "Routing AI task"

    async def _async_generate_data(
        self, task: ai_task.GenDataTask, chat_log: conversation.ChatLog
    ) -> ai_task.GenDataTaskResult:
        return await self._agent.async_generate_data(task, chat_log, self.entity_id)
