"""Query the decision ledger: shared by the `jarvis.get_routing_log` action and the HTTP API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from .coordinator import JarvisConfigEntry
from .router.types import Tier

MAX_LIMIT = 500
TIERS = tuple(t.value for t in Tier)


class RoutingLogQueryError(ValueError):
    """A filter is invalid; `field` names it, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        """Name the bad filter."""
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class RoutingLogQuery:
    """Validated filters."""

    since: datetime | None = None
    tier: str | None = None
    agent_id: str | None = None  # a conversation subentry id
    limit: int = 50
    offset: int = 0


def resolve_agent(hass: HomeAssistant, agent: str | None) -> str | None:
    """Accept a conversation entity id or a subentry id; return the subentry id."""
    if not agent:
        return None
    if agent.startswith("conversation."):
        entry = er.async_get(hass).async_get(agent)
        if entry is None or entry.platform != "jarvis" or not entry.unique_id:
            raise RoutingLogQueryError("agent", f"{agent} is not a Jarvis conversation agent")
        return entry.unique_id
    return agent


def build_query(
    hass: HomeAssistant,
    *,
    since: datetime | None,
    tier: str | None,
    agent: str | None,
    limit: int | None,
    offset: int | None,
) -> RoutingLogQuery:
    """Check every filter; raise RoutingLogQueryError naming the first bad one."""
    if tier is not None and tier not in TIERS:
        raise RoutingLogQueryError("tier", f"tier must be one of {', '.join(TIERS)}")
    limit = 50 if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise RoutingLogQueryError("limit", f"limit must be between 1 and {MAX_LIMIT}")
    offset = 0 if offset is None else offset
    if offset < 0:
        raise RoutingLogQueryError("offset", "offset must not be negative")
    return RoutingLogQuery(
        since=since, tier=tier, agent_id=resolve_agent(hass, agent), limit=limit, offset=offset
    )


async def async_query(
    hass: HomeAssistant, entry: JarvisConfigEntry, query: RoutingLogQuery
) -> dict[str, Any]:
    """Newest first, with the total for pagination."""
    ledger = entry.runtime_data.ledger

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
