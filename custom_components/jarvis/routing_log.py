"""Query the decision ledger: shared by the `jarvis.get_routing_log` action and the HTTP API.

Both surfaces hand over the filters as they came (query-string text, or action data) and get the
same checks, the same errors and the same page back. A filter that is absent, None or "" is not
applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
import re
from typing import Any, Final

from homeassistant.components.conversation import DOMAIN as CONVERSATION_DOMAIN
from homeassistant.core import HomeAssistant, valid_entity_id
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

from .const import ATTR_CONFIG_ENTRY_ID, DOMAIN, SUBENTRY_CONVERSATION
from .coordinator import JarvisConfigEntry
from .router.types import Tier

FILTERS: Final = (ATTR_CONFIG_ENTRY_ID, "since", "tier", "agent", "limit", "offset")
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
MAX_OFFSET: Final = 1_000_000_000
TIERS: Final = tuple(t.value for t in Tier)
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
# A "+01:00" offset sent unencoded in a URL arrives as " 01:00" ("+" means space in a query).
_LOST_PLUS = re.compile(r" ([0-9]{2}(?::?[0-9]{2})?)$")


class RoutingLogQueryError(ValueError):
    """A filter is invalid; `field` names it, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        """Name the bad filter."""
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class RoutingLogQuery:
    """Validated filters."""

    config_entry_id: str | None = None  # as given, else the entry of the given agent
    since: datetime | None = None  # UTC
    tier: str | None = None
    agent_id: str | None = None  # a conversation subentry id
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def parse_since(raw: Any) -> datetime | None:
    """ISO 8601 text or a datetime; without a time zone it is HA's. Returned in UTC."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        moment: datetime | None = raw
    elif isinstance(raw, str):
        moment = _parse_datetime(raw.strip())
    else:
        moment = None
    if moment is None:
        raise RoutingLogQueryError(
            "since", "since must be an ISO 8601 date and time, e.g. 2026-01-31T08:00:00+01:00"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt_util.get_default_time_zone())
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise RoutingLogQueryError("since", "since is out of range") from None


def _parse_datetime(text: str) -> datetime | None:
    for candidate in (text, _LOST_PLUS.sub(r"+\1", text)):
        try:
            if (moment := dt_util.parse_datetime(candidate)) is not None:
                return moment
        except ValueError:  # well-formed but impossible, e.g. month 13
            pass
    return None


def parse_whole(name: str, raw: Any, *, low: int, high: int, default: int) -> int:
    """A whole number in [low, high]: int, integral float (number selectors) or decimal text."""
    if raw is None or raw == "":
        return default
    value: int | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    elif isinstance(raw, str) and _WHOLE_NUMBER.fullmatch(text := raw.strip()):
        try:
            value = int(text)
        except ValueError:  # more digits than Python converts: far out of range anyway
            value = high + 1
    if value is None:
        raise RoutingLogQueryError(name, f"{name} must be a whole number")
    if not low <= value <= high:
        raise RoutingLogQueryError(name, f"{name} must be between {low} and {high}")
    return value


def parse_tier(raw: Any) -> str | None:
    """One of the tiers, or None."""
    if raw is None or raw == "":
        return None
    if raw not in TIERS:
        raise RoutingLogQueryError("tier", f"tier must be one of {', '.join(TIERS)}")
    return str(raw)


def resolve_agent(hass: HomeAssistant, agent: Any) -> tuple[str | None, str | None]:
    """A conversation entity id or an agent's subentry id -> (subentry id, its entry id).

    A subentry id that no entry holds any more is accepted (a removed agent's decisions stay in
    the ledger until they are pruned); its entry is then unknown.
    """
    if agent is None or agent == "":
        return None, None
    if not isinstance(agent, str):
        raise RoutingLogQueryError(
            "agent", "agent must be a Jarvis conversation entity id or agent (subentry) id"
        )
    if valid_entity_id(agent):
        entity = er.async_get(hass).async_get(agent)
        if (
            entity is None
            or entity.platform != DOMAIN
            or entity.domain != CONVERSATION_DOMAIN
            or entity.config_subentry_id is None
        ):
            raise RoutingLogQueryError("agent", f"{agent} is not a Jarvis conversation agent")
        return entity.config_subentry_id, entity.config_entry_id
    for entry in hass.config_entries.async_entries(DOMAIN):
        if (subentry := entry.subentries.get(agent)) is not None:
            if subentry.subentry_type != SUBENTRY_CONVERSATION:
                raise RoutingLogQueryError(
                    "agent", f"{agent} is a {subentry.subentry_type}, not a conversation agent"
                )
            return agent, entry.entry_id
    return agent, None


def parse_filters(hass: HomeAssistant, filters: Mapping[str, Any]) -> RoutingLogQuery:
    """Check every filter; raise RoutingLogQueryError naming the first bad one."""
    for name in filters:
        if name not in FILTERS:
            raise RoutingLogQueryError(
                name, f"unknown filter {name}; the filters are {', '.join(FILTERS)}"
            )
    since = parse_since(filters.get("since"))
    tier = parse_tier(filters.get("tier"))
    agent = filters.get("agent")
    agent_id, agent_entry_id = resolve_agent(hass, agent)
    limit = parse_whole("limit", filters.get("limit"), low=1, high=MAX_LIMIT, default=DEFAULT_LIMIT)
    offset = parse_whole("offset", filters.get("offset"), low=0, high=MAX_OFFSET, default=0)
    entry_id = filters.get(ATTR_CONFIG_ENTRY_ID) or None
    if entry_id is not None and not isinstance(entry_id, str):
        raise RoutingLogQueryError(ATTR_CONFIG_ENTRY_ID, "config_entry_id must be text")
    if entry_id and agent_entry_id and entry_id != agent_entry_id:
        raise RoutingLogQueryError(
            "agent", f"{agent} belongs to the Jarvis entry {agent_entry_id}, not {entry_id}"
        )
    return RoutingLogQuery(
        config_entry_id=entry_id or agent_entry_id,
        since=since,
        tier=tier,
        agent_id=agent_id,
        limit=limit,
        offset=offset,
    )


async def async_query(
    hass: HomeAssistant, entry: JarvisConfigEntry, query: RoutingLogQuery
) -> dict[str, Any]:
    """One page, newest first, with the total for pagination."""
    ledger = entry.runtime_data.ledger
    await entry.runtime_data.writer.async_flush()

    def read() -> tuple[list[dict[str, Any]], int]:
        records = ledger.query(
            since=query.since,
            tier=query.tier,
            agent_id=query.agent_id,
            limit=query.limit,
            offset=query.offset,
        )
        total = ledger.count(since=query.since, tier=query.tier, agent_id=query.agent_id)
        return [r.to_dict() for r in records], total

    decisions, total = await hass.async_add_executor_job(read)
    next_offset = query.offset + len(decisions)
    return {
        "decisions": decisions,
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
        "next_offset": next_offset if next_offset < total else None,
    }
