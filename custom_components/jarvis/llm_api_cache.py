"""HA's Assist LLM API, with its prompt and tools built once and reused until the home changes.

HA's Assist API lists every exposed entity (names, domain, areas; no states: those come from
the GetLiveContext tool) in its prompt, rebuilt on every request: ~50 ms at 1,000 exposed
entities (benchmarks/router_overhead.py), more than the model call to a local server. That part
of the prompt only changes when entities, registries or exposure change, so it is kept until
then (ExposureCache's generation) or for at most CACHE_TTL_S (timer support of a satellite, the
one input without an event). Every request still gets an APIInstance of its own: its
`llm_context` carries the user whose permissions the tools check.

Only APIs known to be static between those events are cached (Assist); any other API (another
integration's, whose prompt may hold live data) is used exactly as HA builds it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
import time

from homeassistant.core import HomeAssistant
from homeassistant.helpers import llm

from .exposure import ExposureCache

CACHEABLE_APIS = frozenset({llm.LLM_API_ASSIST})
CACHE_TTL_S = 60.0
CACHE_SIZE = 32  # (device, language) pairs: one per satellite and language


@dataclass(slots=True, kw_only=True)
class CachedLLMAPI(llm.API):
    """The configured APIs (all cacheable), built once per device and language."""

    api_ids: tuple[str, ...]
    exposure: ExposureCache
    _cache: OrderedDict[tuple[object, ...], tuple[float, llm.APIInstance]] = field(
        default_factory=OrderedDict
    )

    async def async_get_api_instance(self, llm_context: llm.LLMContext) -> llm.APIInstance:
        """A fresh instance for this request around the cached prompt and tools."""
        key = (
            llm_context.device_id,
            llm_context.assistant,
            llm_context.language,
            llm_context.platform,
            self.exposure.generation,
        )
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is None or now - hit[0] > CACHE_TTL_S:
            built = await llm.async_get_api(self.hass, list(self.api_ids), llm_context)
            self._cache[key] = (now, built)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            built = hit[1]
            self._cache.move_to_end(key)
        return llm.APIInstance(
            api=built.api,
            api_prompt=built.api_prompt,
            llm_context=llm_context,
            tools=built.tools,
            custom_serializer=built.custom_serializer,
        )


def cached_llm_api(
    hass: HomeAssistant, setting: str | list[str] | None, exposure: ExposureCache
) -> str | list[str] | llm.API | None:
    """What to hand to ChatLog.async_provide_llm_data for an agent's LLM API setting."""
    if not setting:
        return setting
    ids = (setting,) if isinstance(setting, str) else tuple(setting)
    if not set(ids) <= CACHEABLE_APIS:
        return setting
    return CachedLLMAPI(
        hass=hass,
        id="jarvis_cached_" + "_".join(ids),
        name="Assist",
        api_ids=ids,
        exposure=exposure,
    )
