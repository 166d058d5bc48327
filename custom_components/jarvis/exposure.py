"""What a valid tool call may name (exposed entities, names, aliases, areas), kept between requests.

Building it walks every state and asks HA whether each is exposed: ~10 ms at 1,000 entities
(benchmarks/router_overhead.py), on every model request. It only changes when an entity
appears, disappears or is renamed, when the registries change, or when exposure settings
change, so it is rebuilt lazily after one of those events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import (
    async_listen_entity_updates,
    async_should_expose,
)
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    floor_registry as fr,
)

from .router.confidence import ExposedContext


def build_exposed_context(hass: HomeAssistant) -> ExposedContext:
    """Entities exposed to Assist, their names and aliases, and the areas (lower case)."""
    ent_reg = er.async_get(hass)
    entity_ids: set[str] = set()
    names: set[str] = set()
    domains: set[str] = set()
    for state in hass.states.async_all():
        if not async_should_expose(hass, conversation.DOMAIN, state.entity_id):
            continue
        entity_ids.add(state.entity_id)
        domains.add(state.domain)
        names.add(state.name.lower())
        if (entry := ent_reg.async_get(state.entity_id)) is not None:
            names.update(alias.lower() for alias in entry.aliases if isinstance(alias, str))
    areas = set()
    for area in ar.async_get(hass).async_list_areas():
        areas.add(area.name.lower())
        areas.update(alias.lower() for alias in area.aliases)
    return ExposedContext(
        entity_ids=frozenset(entity_ids),
        names=frozenset(names),
        areas=frozenset(areas),
        domains=frozenset(domains),
    )


@callback
def _changes_membership_or_name(event_data: EventStateChangedData) -> bool:
    """Only these state changes can change the exposed context; value updates cannot."""
    old, new = event_data["old_state"], event_data["new_state"]
    return old is None or new is None or old.name != new.name


class ExposureCache:
    """The exposed context, rebuilt on first use after anything it depends on changed."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Start empty; `async_start` subscribes to the changes."""
        self._hass = hass
        self._value: ExposedContext | None = None
        self.builds = 0  # how often it was rebuilt (diagnostics, tests)
        # Bumped on every change: what else is derived from the same inputs (HA's Assist
        # prompt, llm_api_cache.py) keys its own cache on it.
        self.generation = 0

    @callback
    def get(self) -> ExposedContext:
        """The current exposed context."""
        if self._value is None:
            self._value = build_exposed_context(self._hass)
            self.builds += 1
        return self._value

    @callback
    def invalidate(self, _event: Event[Any] | None = None) -> None:
        """Forget the cached context; the next request rebuilds it."""
        self._value = None
        self.generation += 1

    @callback
    def async_start(self) -> Callable[[], None]:
        """Listen for what changes the context; returns the function that stops listening."""
        bus = self._hass.bus
        unsubs = [
            bus.async_listen(
                EVENT_STATE_CHANGED, self.invalidate, event_filter=_changes_membership_or_name
            ),
            bus.async_listen(er.EVENT_ENTITY_REGISTRY_UPDATED, self.invalidate),
            bus.async_listen(ar.EVENT_AREA_REGISTRY_UPDATED, self.invalidate),
            # Devices carry the area of their entities; floors name where a satellite is.
            bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, self.invalidate),
            bus.async_listen(fr.EVENT_FLOOR_REGISTRY_UPDATED, self.invalidate),
            async_listen_entity_updates(self._hass, conversation.DOMAIN, self.invalidate),
        ]

        @callback
        def stop() -> None:
            for unsub in unsubs:
                unsub()
            self._value = None

        return stop
