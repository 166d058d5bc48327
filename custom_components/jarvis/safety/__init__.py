"""Safety gates: zone policy, identity, dual control, signed commands, tamper-evident audit.

Other code acts on hazardous things only after `async_check_action(hass, action, user_id=...,
context=...)` says `allowed` (or the gate executes the approved action itself through an executor
registered with `async_register_executor`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import llm
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_time_interval

from ..const import DOMAIN
from .const import (
    CONF_NOTIFY,
    CONF_TRUSTED_NETWORKS,
    CONF_USER_MAP,
    CONF_VERIFY_SSL,
    EVENT_NOTIFICATION_ACTION,
    EXPIRE_CHECK_S,
    SUBENTRY_RULE,
    SUBENTRY_UNIFI_ACCESS,
    SUBENTRY_ZONE,
)
from .gate import (
    DATA_GATES,
    GateDecision,
    GateSettings,
    SafetyGate,
    UnifiSettings,
    async_check_action,
    async_get_gate,
    async_register_executor,
    device_action,
)
from .http import SafetyAuditView
from .policy import Action, PolicyError, build_policy
from .services import async_setup_safety_services
from .tools import JarvisSafetyAPI

__all__ = [
    "Action",
    "GateDecision",
    "async_check_action",
    "async_get_gate",
    "async_register_executor",
    "async_setup_safety",
    "async_setup_safety_entry",
    "device_action",
]


@callback
def async_setup_safety(hass: HomeAssistant) -> None:
    """Services and the HTTP view (once, independent of entries)."""
    async_setup_safety_services(hass)
    hass.http.register_view(SafetyAuditView())
    # Once, not per entry: the API finds the loaded gate when a tool is called.
    llm.async_register_api(hass, JarvisSafetyAPI(hass))


def parse_user_map(value: Any) -> dict[str, str]:
    """`ha_user_id: access_user_id` lines (or a mapping) as a dict; PolicyError when malformed."""
    if isinstance(value, dict):
        return {str(k).strip(): str(v).strip() for k, v in value.items()}
    mapping: dict[str, str] = {}
    for number, line in enumerate(str(value or "").splitlines(), start=1):
        if not line.strip():
            continue
        ha_user, sep, access_user = line.partition(":")
        if not sep or not ha_user.strip() or not access_user.strip():
            raise PolicyError(
                CONF_USER_MAP,
                "invalid_user_map",
                f"line {number} is not 'HA user id: Access user id'",
            )
        mapping[ha_user.strip()] = access_user.strip()
    return mapping


def settings_from_entry(entry: ConfigEntry) -> GateSettings:
    """The gate's settings from the entry's zone, rule and console subentries."""
    zones = [dict(s.data) for s in entry.subentries.values() if s.subentry_type == SUBENTRY_ZONE]
    rules = [dict(s.data) for s in entry.subentries.values() if s.subentry_type == SUBENTRY_RULE]
    policy = build_policy(zones, rules)
    notify = {
        z.name: tuple(str(s) for s in raw.get(CONF_NOTIFY) or ())
        for z, raw in zip(policy.zones, zones, strict=True)
    }
    unifi = None
    trusted: tuple[str, ...] | None = None
    for sub in entry.subentries.values():
        if sub.subentry_type != SUBENTRY_UNIFI_ACCESS:
            continue
        unifi = UnifiSettings(
            url=str(sub.data[CONF_URL]),
            token=str(sub.data["token"]),
            verify_ssl=bool(sub.data.get(CONF_VERIFY_SSL, False)),
            user_map=parse_user_map(sub.data.get(CONF_USER_MAP)),
        )
        if sub.data.get(CONF_TRUSTED_NETWORKS):
            trusted = tuple(str(n) for n in sub.data[CONF_TRUSTED_NETWORKS])
    settings = GateSettings(policy=policy, unifi=unifi, notify=notify)
    # The entry's options (remote mode, set in the UI) win over the console's older field.
    if entry.options.get(CONF_TRUSTED_NETWORKS):
        trusted = tuple(str(n) for n in entry.options[CONF_TRUSTED_NETWORKS])
    if trusted:
        settings.trusted_networks = trusted
    return settings


async def async_setup_safety_entry(hass: HomeAssistant, entry: ConfigEntry) -> SafetyGate:
    """Build and load the entry's gate; register the gated LLM API and the notification hook."""
    try:
        settings = settings_from_entry(entry)
    except PolicyError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="safety_policy_invalid",
            translation_placeholders={"field": err.field, "reason": str(err)},
        ) from err
    gate = SafetyGate(hass, entry.entry_id, settings, async_get_clientsession(hass))
    await gate.async_load()
    gates = hass.data.setdefault(DATA_GATES, {})
    gates[entry.entry_id] = gate
    unsubs: list[Callable[[], None]] = [
        hass.bus.async_listen(EVENT_NOTIFICATION_ACTION, gate.handle_notification_action),
        async_track_time_interval(hass, gate.async_expire, timedelta(seconds=EXPIRE_CHECK_S)),
    ]

    @callback
    def unload() -> None:
        for unsub in unsubs:
            unsub()
        gates.pop(entry.entry_id, None)

    entry.async_on_unload(unload)
    return gate
