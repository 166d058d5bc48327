"""The routing candidates of a loaded entry, kept between requests, and what local servers say.

Providers are built once per provider subentry (and rebuilt when its settings change), not per
request: an Ollama provider owns a connection pool and remembers its server's version, and
rebuilding cost ~0.3 ms a request (benchmarks/router_overhead.py).

Local servers that can tell (Ollama: /api/ps, /api/show) are asked, at most every
STATUS_TTL_S, whether the model is loaded and whether it can call tools:
- a model without tool support gets no tools (and its tool-less answer to a command escalates);
- a cold model (loading takes seconds to minutes on a CPU) is skipped while a paid candidate
  can answer, and loaded in the background for the next request; with nothing after it, it is
  used anyway. A server that cannot be asked is used as configured: the call itself fails over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
import time
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant

from .const import LOGGER
from .provider_setup import bundled_candidate, candidate_for
from .router.policy import Candidate
from .router.providers.base import LocalModelStatus, ProviderError

STATUS_TTL_S = 30.0


@dataclass(slots=True)
class _Status:
    warm: bool | None
    tools: bool | None
    checked: float


class CandidatePool:
    """Candidates by provider subentry (or the add-on's model), built once, closed on unload."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Empty; candidates are built on first use."""
        self._hass = hass
        self._built: dict[str, tuple[Mapping[str, Any], Candidate]] = {}
        self._status: dict[str, _Status] = {}
        self._warming: set[str] = set()

    def candidate(self, subentry: ConfigSubentry) -> Candidate:
        """The candidate for a provider subentry (rebuilt if its settings changed)."""
        return self._get(
            subentry.subentry_id,
            subentry.data,
            lambda: candidate_for(self._hass, subentry),
        )

    def bundled(self, entry_data: Mapping[str, Any]) -> Candidate:
        """The add-on's bundled model (rebuilt if the add-on's URL or token changed)."""
        return self._get("bundled", entry_data, lambda: bundled_candidate(self._hass, entry_data))

    def _get(self, key: str, data: Mapping[str, Any], build: Any) -> Candidate:
        if (known := self._built.get(key)) is not None and known[0] == data:
            return known[1]
        if known is not None:
            self._retire(key, known[1])
        candidate: Candidate = build()
        self._built[key] = (dict(data), candidate)
        return candidate

    def _retire(self, key: str, candidate: Candidate) -> None:
        self._status.pop(key, None)
        self._hass.async_create_background_task(
            candidate.provider.close(), f"jarvis close {candidate.name}"
        )

    async def async_close(self) -> None:
        """Close every provider (entry unload)."""
        built, self._built = self._built, {}
        for _, candidate in built.values():
            await candidate.provider.close()

    def _key_of(self, candidate: Candidate) -> str | None:
        for key, (_, known) in self._built.items():
            if known is candidate:
                return key
        return None

    async def async_prepare(
        self, candidates: list[Candidate]
    ) -> tuple[list[Candidate], list[dict[str, Any]]]:
        """Candidates adjusted to what their servers say, and attempts for those skipped."""
        ready: list[Candidate] = []
        skipped: list[dict[str, Any]] = []
        for index, given in enumerate(candidates):
            provider = given.provider
            key = self._key_of(given)
            if not given.local or key is None or not isinstance(provider, LocalModelStatus):
                ready.append(given)
                continue
            status = await self._status_of(key, provider)
            candidate = given
            if status.tools is False and given.tools:
                candidate = replace(given, tools=False)
            paid_after = any(not later.local for later in candidates[index + 1 :])
            if status.warm is False and paid_after:
                skipped.append(
                    {
                        "tier": candidate.tier.value,
                        "name": candidate.name,
                        "model": provider.model,
                        "outcome": "skipped_cold",
                        "detail": "model not loaded; loading it for the next request",
                    }
                )
                self._warm_up(key, candidate)
                continue
            ready.append(candidate)
        return ready, skipped

    async def _status_of(self, key: str, provider: LocalModelStatus) -> _Status:
        now = time.monotonic()
        known = self._status.get(key)
        if known is not None and now - known.checked < STATUS_TTL_S:
            return known
        warm: bool | None
        tools: bool | None = None if known is None else known.tools
        try:
            warm = await provider.is_warm()
            if tools is None:  # a model's capabilities do not change while it is configured
                tools = await provider.supports_tools()
        except ProviderError as err:
            LOGGER.debug("Local model status unknown: %s", err)
            warm = None
        status = _Status(warm=warm, tools=tools, checked=now)
        self._status[key] = status
        return status

    def _warm_up(self, key: str, candidate: Candidate) -> None:
        if key in self._warming or not isinstance(candidate.provider, LocalModelStatus):
            return
        self._warming.add(key)
        provider = candidate.provider

        async def load() -> None:
            try:
                await provider.warm_up()
            except ProviderError as err:
                LOGGER.warning("Could not load %s: %s", candidate.name, err)
            else:
                self._status[key] = _Status(
                    warm=True,
                    tools=self._status[key].tools if key in self._status else None,
                    checked=time.monotonic(),
                )
            finally:
                self._warming.discard(key)

        self._hass.async_create_background_task(load(), f"jarvis load {candidate.name}")
