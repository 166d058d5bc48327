"""Polls the add-on's health so entities and diagnostics know its version and state."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .addon.client import AddonAuthError, AddonClient, AddonError, AddonHealth
from .candidates import CandidatePool
from .const import DOMAIN, HEALTH_INTERVAL, LOGGER
from .context_store import ContextStore
from .exposure import ExposureCache
from .ledger_writer import LedgerWriter
from .router.ledger import Ledger

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from .routing_metrics import RoutingMetricsCoordinator


@dataclass(slots=True)
class JarvisRuntimeData:
    """What a loaded entry holds (entry.runtime_data)."""

    client: AddonClient
    coordinator: JarvisAddonCoordinator
    ledger: Ledger
    writer: LedgerWriter  # every ledger write goes through it; readers flush it first
    contexts: ContextStore
    exposure: ExposureCache
    candidates: CandidatePool  # providers built once per subentry, closed on unload
    # Decisions of the last requests by HA context id: lets /api/jarvis/query name its decision.
    recent_decisions: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    # Ledger figures for the sensors and the budget alerts (routing_metrics.py).
    metrics: RoutingMetricsCoordinator | None = None

    def remember(self, context_id: str, decision: dict[str, Any], keep: int = 200) -> None:
        """Keep the newest decisions only."""
        self.recent_decisions[context_id] = decision
        while len(self.recent_decisions) > keep:
            self.recent_decisions.popitem(last=False)


type JarvisConfigEntry = ConfigEntry[JarvisRuntimeData]


class JarvisAddonCoordinator(DataUpdateCoordinator[AddonHealth]):
    """One health poll for all of an entry's entities."""

    config_entry: JarvisConfigEntry

    def __init__(self, hass: HomeAssistant, entry: JarvisConfigEntry, client: AddonClient) -> None:
        """Poll client's health every HEALTH_INTERVAL."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} add-on health",
            update_interval=HEALTH_INTERVAL,
        )
        self.client = client

    async def _async_update_data(self) -> AddonHealth:
        try:
            return await self.client.verify()
        except AddonAuthError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="addon_auth_failed"
            ) from err
        except AddonError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="addon_unreachable",
                translation_placeholders={"url": self.client.url, "error": str(err)},
            ) from err
