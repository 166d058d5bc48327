"""Routing metrics and budget alerts, computed from the decision ledger.

Refreshed when a `jarvis_routing_decision` event of this entry arrives (debounced: a burst of
requests costs one ledger read per second at most) and at 00:00 UTC, when the day's figures and
the daily caps reset; never polled. After each refresh the budget repair issues are brought in
line: one per agent and cap, a warning at 80 %, an error when the cap is reached, gone once the
period resets or the cap is raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from homeassistant.const import CONF_NAME
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.event import async_track_utc_time_change
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    CONF_BUDGET_DAILY,
    CONF_BUDGET_MONTHLY,
    DOMAIN,
    EVENT_ROUTING_DECISION,
    LOGGER,
    SUBENTRY_PROVIDER,
)
from .coordinator import JarvisConfigEntry
from .router.budget import Budget, BudgetLevel, budget_levels
from .router.ledger import Ledger, LedgerError, LedgerStats

REFRESH_COOLDOWN_S = 1.0
BUDGET_ISSUE_PREFIX = "budget_"
ALL_AGENTS = "All agents"  # the entry-wide budget's name in issues and attributes


def period_starts(now: datetime) -> tuple[datetime, datetime]:
    """Start of the UTC day and of the UTC month (the budget periods)."""
    day = now.astimezone(dt_util.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day.replace(day=1)


@dataclass(frozen=True, slots=True)
class AgentBudget:
    """One agent's cap and its use."""

    agent_id: str
    agent_name: str
    level: BudgetLevel

    @property
    def issue_id(self) -> str:
        """The repair issue for this agent and period."""
        return f"{BUDGET_ISSUE_PREFIX}{self.agent_id}_{self.level.period}"


@dataclass(frozen=True, slots=True)
class RoutingMetrics:
    """Everything the sensors show."""

    day_start: datetime
    month_start: datetime
    cost_today_by_provider: dict[str, float]
    cost_month_by_provider: dict[str, float]
    cost_today_by_agent: dict[str, float]
    cost_month_by_agent: dict[str, float]
    today: LedgerStats
    budgets: list[AgentBudget] = field(default_factory=list)
    last_decision: dict[str, Any] | None = None

    @property
    def cost_today(self) -> float:
        """USD spent today (UTC), all providers."""
        return round(float(sum(self.cost_today_by_provider.values())), 8)

    @property
    def cost_month(self) -> float:
        """USD spent this month (UTC), all providers."""
        return round(float(sum(self.cost_month_by_provider.values())), 8)


def _read(ledger: Ledger, now: datetime) -> tuple[datetime, datetime, tuple[Any, ...]]:
    day, month = period_starts(now)
    return (
        day,
        month,
        (
            ledger.spend(day),
            ledger.spend(month),
            ledger.spend_by_agent(day),
            ledger.spend_by_agent(month),
            ledger.stats(day),
            ledger.query(limit=1),
        ),
    )


class RoutingMetricsCoordinator(DataUpdateCoordinator[RoutingMetrics]):
    """Ledger figures for one entry; refreshed on its routing decisions, not on a timer."""

    config_entry: JarvisConfigEntry

    def __init__(self, hass: HomeAssistant, entry: JarvisConfigEntry, ledger: Ledger) -> None:
        """No update_interval: refreshes are requested by events and the day change."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} routing metrics",
            update_interval=None,
            request_refresh_debouncer=Debouncer(
                hass, LOGGER, cooldown=REFRESH_COOLDOWN_S, immediate=True
            ),
        )
        self.ledger = ledger
        self._last_decision: dict[str, Any] | None = None

    async def _async_update_data(self) -> RoutingMetrics:
        # Decisions reach the ledger just after their answer (ledger_writer.py): write them first.
        await self.config_entry.runtime_data.writer.async_flush()
        try:
            day, month, figures = await self.hass.async_add_executor_job(
                _read, self.ledger, dt_util.utcnow()
            )
            if period_starts(dt_util.utcnow())[0] != day:
                # The day ended during the read: never publish yesterday's figures as today's.
                day, month, figures = await self.hass.async_add_executor_job(
                    _read, self.ledger, dt_util.utcnow()
                )
        except LedgerError as err:
            # The sensors are unavailable until the next good read.
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="ledger_read_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        today_p, month_p, today_a, month_a, stats, newest = figures
        if self._last_decision is None and newest:
            self._last_decision = newest[0].to_dict()
        metrics = RoutingMetrics(
            day_start=day,
            month_start=month,
            cost_today_by_provider=today_p,
            cost_month_by_provider=month_p,
            cost_today_by_agent=today_a,
            cost_month_by_agent=month_a,
            today=stats,
            budgets=self._budgets(today_a, month_a),
            last_decision=self._last_decision,
        )
        self._sync_budget_issues(metrics.budgets)
        return metrics

    def _budgets(self, today: dict[str, float], month: dict[str, float]) -> list[AgentBudget]:
        entry = self.config_entry
        overall = Budget(
            daily_usd=entry.options.get(CONF_BUDGET_DAILY),
            monthly_usd=entry.options.get(CONF_BUDGET_MONTHLY),
        )
        budgets = [
            AgentBudget(entry.entry_id, ALL_AGENTS, level)
            for level in budget_levels(overall, sum(today.values()), sum(month.values()))
        ]
        for sub in self.config_entry.subentries.values():
            if sub.subentry_type == SUBENTRY_PROVIDER:
                continue
            budget = Budget(
                daily_usd=sub.data.get(CONF_BUDGET_DAILY),
                monthly_usd=sub.data.get(CONF_BUDGET_MONTHLY),
            )
            name = str(sub.data.get(CONF_NAME) or sub.title)
            levels = budget_levels(
                budget, today.get(sub.subentry_id, 0.0), month.get(sub.subentry_id, 0.0)
            )
            budgets.extend(AgentBudget(sub.subentry_id, name, level) for level in levels)
        return budgets

    def _sync_budget_issues(self, budgets: list[AgentBudget]) -> None:
        """A repair issue per cap that is near or hit; every other budget issue of ours goes."""
        wanted: set[str] = set()
        for budget in budgets:
            level = budget.level
            if level.state == "ok":
                continue
            wanted.add(budget.issue_id)
            placeholders = {
                "agent": budget.agent_name,
                "period": level.period,
                "spent": f"{level.spent_usd:.2f}",
                "cap": f"{level.cap_usd:.2f}",
                "percent": f"{100 * level.fraction:.0f}",
            }
            if level.state == "exhausted":
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    budget.issue_id,
                    is_fixable=False,
                    severity=ir.IssueSeverity.ERROR,
                    translation_key="budget_exhausted",
                    translation_placeholders=placeholders,
                )
            else:
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    budget.issue_id,
                    is_fixable=False,
                    severity=ir.IssueSeverity.WARNING,
                    translation_key="budget_near",
                    translation_placeholders=placeholders,
                )
        agent_ids = {*self.config_entry.subentries, self.config_entry.entry_id}
        for domain, issue_id in list(ir.async_get(self.hass).issues):
            if (
                domain != DOMAIN
                or issue_id in wanted
                or not issue_id.startswith(BUDGET_ISSUE_PREFIX)
            ):
                continue
            if issue_id.removeprefix(BUDGET_ISSUE_PREFIX).rsplit("_", 1)[0] in agent_ids:
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)

    @callback
    def async_decision(self, event: Event[dict[str, Any]]) -> None:
        """A routing decision of one of this entry's agents: refresh (debounced)."""
        if event.data.get("agent_id") not in self.config_entry.subentries:
            return
        self._last_decision = dict(event.data)
        self.hass.async_create_task(self.async_request_refresh(), "jarvis metrics refresh")

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Listen for decisions and the UTC day change; returns the undo for both."""
        unsub_event = self.hass.bus.async_listen(EVENT_ROUTING_DECISION, self.async_decision)

        async def day_changed(_now: datetime) -> None:
            await self.async_refresh()

        unsub_time = async_track_utc_time_change(self.hass, day_changed, hour=0, minute=0, second=0)

        @callback
        def stop() -> None:
            unsub_event()
            unsub_time()

        return stop


async def async_setup_routing_metrics(
    hass: HomeAssistant, entry: JarvisConfigEntry, ledger: Ledger
) -> RoutingMetricsCoordinator:
    """Read the ledger once, then follow decisions; unloading the entry stops it."""
    coordinator = RoutingMetricsCoordinator(hass, entry, ledger)
    await coordinator.async_refresh()
    entry.async_on_unload(coordinator.async_start())
    return coordinator
