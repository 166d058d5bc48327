"""HA's Assist prompt and tools: built once, reused per request until the home changes."""

from __future__ import annotations

from typing import Any

from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import area_registry as ar, llm
from homeassistant.setup import async_setup_component
import pytest

from custom_components.jarvis import llm_api_cache
from custom_components.jarvis.exposure import ExposureCache
from custom_components.jarvis.llm_api_cache import CachedLLMAPI, cached_llm_api


def _context(user_id: str | None = None, device_id: str | None = None) -> llm.LLMContext:
    return llm.LLMContext(
        platform="jarvis",
        context=Context(user_id=user_id),
        language="en",
        assistant="conversation",
        device_id=device_id,
    )


@pytest.fixture
async def api(hass: HomeAssistant) -> CachedLLMAPI:
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "intent", {})
    hass.states.async_set("light.bench", "off", {"friendly_name": "Bench light"})
    exposure = ExposureCache(hass)
    exposure.async_start()
    made = cached_llm_api(hass, [llm.LLM_API_ASSIST], exposure)
    assert isinstance(made, CachedLLMAPI)
    return made


async def test_same_prompt_and_tools_as_ha_builds_them(
    hass: HomeAssistant, api: CachedLLMAPI
) -> None:
    ours = await api.async_get_api_instance(_context())
    theirs = await llm.async_get_api(hass, llm.LLM_API_ASSIST, _context())
    assert ours.api_prompt == theirs.api_prompt
    assert "Bench light" in ours.api_prompt
    assert [t.name for t in ours.tools] == [t.name for t in theirs.tools]
    assert ours.api is theirs.api


async def test_reused_until_the_home_changes_with_each_request_its_own_user(
    hass: HomeAssistant, api: CachedLLMAPI
) -> None:
    first = await api.async_get_api_instance(_context("alice"))
    again = await api.async_get_api_instance(_context("bob"))
    assert again.tools is first.tools  # not rebuilt
    assert again.llm_context.context is not None
    assert again.llm_context.context.user_id == "bob"  # tools run as the person asking
    hass.states.async_set("light.bench", "on", {"friendly_name": "Bench light"})
    await hass.async_block_till_done()
    assert (await api.async_get_api_instance(_context())).tools is first.tools  # a value

    hass.states.async_set("switch.laser", "off", {"friendly_name": "Laser cutter"})
    await hass.async_block_till_done()
    renewed = await api.async_get_api_instance(_context())
    assert renewed.tools is not first.tools
    assert "Laser cutter" in renewed.api_prompt

    ar.async_get(hass).async_create("Paint booth")
    await hass.async_block_till_done()
    assert (await api.async_get_api_instance(_context())).tools is not renewed.tools


async def test_per_device_and_expiring(
    hass: HomeAssistant, api: CachedLLMAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = await api.async_get_api_instance(_context())
    satellite = await api.async_get_api_instance(_context(device_id="satellite-1"))
    assert satellite.tools is not plain.tools
    clock = [llm_api_cache.time.monotonic() + 10_000]
    monkeypatch.setattr(llm_api_cache.time, "monotonic", lambda: clock[0])
    first = await api.async_get_api_instance(_context())
    clock[0] += llm_api_cache.CACHE_TTL_S + 1
    assert (await api.async_get_api_instance(_context())).tools is not first.tools
    for index in range(llm_api_cache.CACHE_SIZE + 5):
        await api.async_get_api_instance(_context(device_id=f"device-{index}"))
    assert len(api._cache) == llm_api_cache.CACHE_SIZE


async def test_other_apis_are_left_as_ha_builds_them(hass: HomeAssistant) -> None:
    exposure = ExposureCache(hass)
    setting: Any
    for setting in (None, [], "some_integration_api", [llm.LLM_API_ASSIST, "other"]):
        assert cached_llm_api(hass, setting, exposure) == setting
    assert isinstance(cached_llm_api(hass, llm.LLM_API_ASSIST, exposure), CachedLLMAPI)
