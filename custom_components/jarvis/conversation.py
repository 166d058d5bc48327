"""Conversation agents: one entity per `conversation` subentry, all served by the router."""

from __future__ import annotations

from typing import Literal

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_LLM_HASS_API, MATCH_ALL
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import SUBENTRY_CONVERSATION
from .coordinator import JarvisConfigEntry
from .entity import JarvisRoutingEntity

PARALLEL_UPDATES = 0  # requests run concurrently; each is independent


async def async_setup_entry(
    hass: HomeAssistant,
    entry: JarvisConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One agent per conversation subentry."""
    for subentry in entry.subentries.values():
        if subentry.subentry_type == SUBENTRY_CONVERSATION:
            async_add_entities(
                [JarvisConversationEntity(hass, entry, subentry)],
                config_subentry_id=subentry.subentry_id,
            )


class JarvisConversationEntity(JarvisRoutingEntity, conversation.ConversationEntity):
    """An Assist agent that answers with the cheapest tier that is good enough."""

    _attr_supports_streaming = True
    _device_model = "Routing conversation agent"

    def __init__(
        self, hass: HomeAssistant, entry: JarvisConfigEntry, subentry: ConfigSubentry
    ) -> None:
        """Bind the agent to its subentry's routing policy; tools only when an LLM API is set."""
        super().__init__(hass, entry, subentry)
        if subentry.data.get(CONF_LLM_HASS_API):
            self._attr_supported_features = conversation.ConversationEntityFeature.CONTROL

    @property
    def supported_languages(self) -> list[str] | Literal["*"]:
        """Any language: T0 uses HA's own sentences, the models are multilingual."""
        return MATCH_ALL

    async def _async_handle_message(
        self, user_input: conversation.ConversationInput, chat_log: conversation.ChatLog
    ) -> conversation.ConversationResult:
        return await self._agent.async_handle(user_input, chat_log, self.entity_id)
