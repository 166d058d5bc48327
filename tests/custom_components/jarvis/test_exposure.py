"""The exposed context is cached between requests and rebuilt after anything it reflects changes."""

from __future__ import annotations

from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar, entity_registry as er
from homeassistant.setup import async_setup_component

from custom_components.jarvis.exposure import ExposureCache, build_exposed_context


async def _cache(hass: HomeAssistant) -> ExposureCache:
    assert await async_setup_component(hass, "conversation", {})
    hass.states.async_set("light.bench", "off", {"friendly_name": "Bench light"})
    await hass.async_block_till_done()
    cache = ExposureCache(hass)
    cache.async_start()
    return cache


async def test_value_updates_reuse_the_cached_context(hass: HomeAssistant) -> None:
    cache = await _cache(hass)
    first = cache.get()
    assert "light.bench" in first.entity_ids
    assert "bench light" in first.names
    for value in ("on", "off", "on"):
        hass.states.async_set("light.bench", value, {"friendly_name": "Bench light"})
    await hass.async_block_till_done()
    assert cache.get() is first
    assert cache.builds == 1


async def test_new_removed_and_renamed_entities_rebuild_it(hass: HomeAssistant) -> None:
    cache = await _cache(hass)
    cache.get()
    hass.states.async_set("switch.laser", "off", {"friendly_name": "Laser"})
    await hass.async_block_till_done()
    assert "switch.laser" in cache.get().entity_ids
    hass.states.async_set("switch.laser", "off", {"friendly_name": "Laser cutter"})
    await hass.async_block_till_done()
    assert "laser cutter" in cache.get().names
    hass.states.async_remove("switch.laser")
    await hass.async_block_till_done()
    context = cache.get()
    assert "switch.laser" not in context.entity_ids
    assert context == build_exposed_context(hass)
    assert cache.builds == 4


async def test_registry_and_exposure_changes_rebuild_it(hass: HomeAssistant) -> None:
    cache = await _cache(hass)
    ent_reg = er.async_get(hass)
    entry = ent_reg.async_get_or_create("light", "test", "bench", suggested_object_id="shelf")
    hass.states.async_set(entry.entity_id, "off", {"friendly_name": "Shelf"})
    await hass.async_block_till_done()
    assert "shelf" in cache.get().names

    ent_reg.async_update_entity(entry.entity_id, aliases={"top shelf"})
    await hass.async_block_till_done()
    assert "top shelf" in cache.get().names

    ar.async_get(hass).async_create("Paint booth", aliases={"booth"})
    await hass.async_block_till_done()
    assert {"paint booth", "booth"} <= cache.get().areas

    async_expose_entity(hass, "conversation", entry.entity_id, False)
    await hass.async_block_till_done()
    assert entry.entity_id not in cache.get().entity_ids
    assert cache.get() == build_exposed_context(hass)


async def test_stopping_forgets_and_stops_listening(hass: HomeAssistant) -> None:
    cache = await _cache(hass)
    stop = cache.async_start()
    cache.get()
    stop()
    hass.states.async_set("switch.fan", "off", {"friendly_name": "Fan"})
    await hass.async_block_till_done()
    # Rebuilt because stop() forgot the value, not because an event arrived.
    assert "switch.fan" in cache.get().entity_ids
