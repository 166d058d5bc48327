"""Jarvis: runs a fabrication workshop from Home Assistant Assist."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from homeassistant.const import CONF_URL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import STORAGE_DIR
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util

from .addon.client import AddonClient
from .addon.devices import async_setup_device_executor, async_track_job_events
from .cad import async_setup_cad
from .candidates import CandidatePool
from .const import CONF_API_TOKEN, CONF_KIND, DOMAIN, LEDGER_RETENTION_DAYS, LOGGER
from .context_store import ContextStore
from .coordinator import JarvisAddonCoordinator, JarvisConfigEntry, JarvisRuntimeData
from .cv_events import async_setup_cv_events
from .exposure import ExposureCache
from .http import async_register_views
from .ledger_writer import LedgerWriter
from .printer_llm import async_register_llm_api
from .provider_setup import async_import_provider_sdks
from .router.ledger import Ledger, LedgerError
from .router.types import ProviderKind
from .routing_metrics import async_setup_routing_metrics
from .safety import async_setup_safety, async_setup_safety_entry
from .services import async_setup_services

PLATFORMS: tuple[Platform, ...] = (
    Platform.AI_TASK,
    Platform.BINARY_SENSOR,
    Platform.CONVERSATION,
    Platform.EVENT,
    Platform.SENSOR,
)
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's services and HTTP views (once, independent of entries)."""
    async_setup_services(hass)
    async_register_views(hass)
    async_setup_cad(hass)
    async_setup_safety(hass)
    async_register_llm_api(hass)
    async_setup_device_executor(hass)  # approved printer commands are sent by the safety gate
    return True


async def async_setup_entry(hass: HomeAssistant, entry: JarvisConfigEntry) -> bool:
    """Connect to the add-on; retry later if it is not up yet."""
    client = AddonClient(
        async_get_clientsession(hass), entry.data[CONF_URL], entry.data[CONF_API_TOKEN]
    )
    coordinator = JarvisAddonCoordinator(hass, entry, client)
    # Raises ConfigEntryNotReady (retry) or ConfigEntryAuthFailed (reauth) for us.
    await coordinator.async_config_entry_first_refresh()
    # The SDKs of the configured providers (and the add-on model's), off the event loop.
    await async_import_provider_sdks(
        hass,
        [
            ProviderKind.OPENAI_COMPATIBLE,
            *(s.data.get(CONF_KIND) for s in entry.subentries.values()),
        ],
    )
    ledger_path = hass.config.path(STORAGE_DIR, f"jarvis_ledger.{entry.entry_id}.db")
    try:
        ledger = await hass.async_add_executor_job(_open_ledger, ledger_path)
    except (LedgerError, OSError) as err:
        # A damaged ledger does not heal by retrying; say where it is so it can be moved aside.
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="ledger_unavailable",
            translation_placeholders={"path": ledger_path, "error": str(err)},
        ) from err

    writer = LedgerWriter(hass, ledger)

    async def close_ledger() -> None:
        await writer.async_flush()  # the decisions of the last half second
        await hass.async_add_executor_job(ledger.close)

    entry.async_on_unload(close_ledger)
    # The safety gate before any agent or platform: every tool call needs it.
    await async_setup_safety_entry(hass, entry)
    contexts = ContextStore(hass, entry.entry_id)
    await contexts.async_load()
    entry.async_on_unload(contexts.async_flush)
    exposure = ExposureCache(hass)
    entry.async_on_unload(exposure.async_start())
    pool = CandidatePool(hass)
    entry.async_on_unload(pool.async_close)
    entry.runtime_data = JarvisRuntimeData(
        client=client,
        coordinator=coordinator,
        ledger=ledger,
        writer=writer,
        contexts=contexts,
        exposure=exposure,
        candidates=pool,
    )

    async def prune(_now: object = None) -> None:
        cutoff = dt_util.utcnow() - timedelta(days=LEDGER_RETENTION_DAYS)
        removed = await hass.async_add_executor_job(ledger.prune, cutoff)
        if removed:
            LOGGER.debug("Pruned %d routing decisions older than %s", removed, cutoff)

    await prune()
    entry.runtime_data.metrics = await async_setup_routing_metrics(hass, entry, ledger)
    entry.async_on_unload(async_track_time_interval(hass, prune, timedelta(hours=24)))
    entry.async_on_unload(entry.add_update_listener(_async_reload))
    # Printer job events -> jarvis_printer_job events and their scenes (when MQTT is set up).
    if unsub_jobs := await async_track_job_events(hass):
        entry.async_on_unload(unsub_jobs)
    entry.async_create_background_task(hass, _cv_events(hass, entry), "jarvis_cv_events")
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _cv_events(hass: HomeAssistant, entry: JarvisConfigEntry) -> None:
    """Receive the add-on's CV events once MQTT is up (without MQTT there are none)."""
    unsubscribe = await async_setup_cv_events(hass)
    if unsubscribe is not None:
        entry.async_on_unload(unsubscribe)


def _open_ledger(path: str) -> Ledger:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return Ledger(path)


async def _async_reload(hass: HomeAssistant, entry: JarvisConfigEntry) -> None:
    """Subentries (providers, agents) changed: rebuild entities with the new settings."""
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: JarvisConfigEntry) -> bool:
    """Unload the entry's platforms."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
