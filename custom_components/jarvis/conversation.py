"""Conversation agents: one entity per `conversation` subentry, all served by the router."""

from __future__ import annotations

from typing import Literal

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_LLM_HASS_API, MATCH_ALL
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.start import async_at_started

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
        self._warmed: tuple[int, bool] | None = None
        self._warming = False
        if subentry.data.get(CONF_LLM_HASS_API):
            self._attr_supported_features = conversation.ConversationEntityFeature.CONTROL

    async def async_added_to_hass(self) -> None:
        """Warm the add-on's model with this agent's prompt once HA runs, and after changes."""
        await super().async_added_to_hass()
        runtime = self._agent.entry.runtime_data
        self.async_on_remove(runtime.coordinator.async_add_listener(self._maybe_warm_up))
        self.async_on_remove(async_at_started(self.hass, lambda _hass: self._maybe_warm_up()))

    @callback
    def _maybe_warm_up(self) -> None:
        """Once per state of what the prompt is made of: the model ready, the exposed entities."""
        if not self.hass.is_running:
            return
        runtime = self._agent.entry.runtime_data
        health = runtime.coordinator.data
        llm = health.raw.get("llm") if health else None
        key = (runtime.exposure.generation, bool(isinstance(llm, dict) and llm.get("ready")))
        if not key[1] or key == self._warmed or self._warming:
            return
        self._warmed, self._warming = key, True

        async def warm_up() -> None:
            try:
                await self._agent.async_warm_bundled()
            finally:
                self._warming = False

        # The entry's own background task: cancelled when the entry unloads.
        self._agent.entry.async_create_background_task(
            self.hass, warm_up(), f"jarvis warm-up {self.entity_id}"
        )

    @property
    def supported_languages(self) -> list[str] | Literal["*"]:
        """Any language: T0 uses HA's own sentences, the models are multilingual."""
        return MATCH_ALL

    async def _async_handle_message(
        self, user_input: conversation.ConversationInput, chat_log: conversation.ChatLog
    ) -> conversation.ConversationResult:
        return await self._agent.async_handle(user_input, chat_log, self.entity_id)
