"""Sensors: routing (cost, local share, escalations, latency per tier, the last decision) and safety.

The routing sensors read RoutingMetricsCoordinator, which refreshes on routing decisions (no polling). Device and
state classes are chosen so that long-term statistics work and HA's prometheus integration
exports them: costs are monetary totals that reset with their period (last_reset), counts are
totals that only grow within the day, latencies and the local share are measurements.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import JarvisConfigEntry
from .router.ledger import METRIC_TIERS
from .routing_metrics import RoutingMetrics, RoutingMetricsCoordinator
from .safety.gate import DATA_GATES
from .safety.sensor import PendingApprovalsSensor

PARALLEL_UPDATES = 0
CURRENCY = "USD"  # providers' prices are configured in USD
LAST_DECISION_OPTIONS = [*METRIC_TIERS, "none"]


@dataclass(frozen=True, kw_only=True)
class RoutingSensorEntityDescription(SensorEntityDescription):
    """A routing sensor: its value (and extras) from the metrics."""

    value: Callable[[RoutingMetrics], StateType]
    reset_at: Callable[[RoutingMetrics], datetime] | None = None
    attributes: Callable[[RoutingMetrics], dict[str, Any]] | None = None


def _percentile(tier: str, percentile: str) -> Callable[[RoutingMetrics], StateType]:
    def value(m: RoutingMetrics) -> StateType:
        lat = m.today.latency[tier]
        return lat.p50_ms if percentile == "p50" else lat.p95_ms

    return value


_LATENCY: dict[str, Any] = {
    "device_class": SensorDeviceClass.DURATION,
    "state_class": SensorStateClass.MEASUREMENT,
    "native_unit_of_measurement": UnitOfTime.MILLISECONDS,
    "suggested_display_precision": 0,
}


def _last_tier(m: RoutingMetrics) -> StateType:
    if m.last_decision is None:
        return None
    return str(m.last_decision.get("tier") or "") or "none"


def _last_attributes(m: RoutingMetrics) -> dict[str, Any]:
    d = m.last_decision or {}
    keys = ("id", "provider", "model", "outcome", "cost_usd", "latency_ms", "confidence", "reason")
    return {key: d.get(key) for key in keys}


SENSORS: tuple[RoutingSensorEntityDescription, ...] = (
    RoutingSensorEntityDescription(
        key="cost_today",
        translation_key="cost_today",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        native_unit_of_measurement=CURRENCY,
        suggested_display_precision=4,
        value=lambda m: m.cost_today,
        reset_at=lambda m: m.day_start,
        attributes=lambda m: {
            "by_provider": m.cost_today_by_provider,
            "by_agent": m.cost_today_by_agent,
        },
    ),
    RoutingSensorEntityDescription(
        key="cost_month",
        translation_key="cost_month",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        native_unit_of_measurement=CURRENCY,
        suggested_display_precision=4,
        value=lambda m: m.cost_month,
        reset_at=lambda m: m.month_start,
        attributes=lambda m: {
            "by_provider": m.cost_month_by_provider,
            "by_agent": m.cost_month_by_agent,
            "budgets": [
                {
                    "agent": b.agent_name,
                    "period": b.level.period,
                    "cap_usd": b.level.cap_usd,
                    "spent_usd": round(b.level.spent_usd, 6),
                    "state": b.level.state,
                }
                for b in m.budgets
            ],
        },
    ),
    RoutingSensorEntityDescription(
        key="local_share_today",
        translation_key="local_share_today",
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=1,
        value=lambda m: m.today.local_share,
    ),
    RoutingSensorEntityDescription(
        key="requests_today",
        translation_key="requests_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value=lambda m: m.today.decisions,
    ),
    RoutingSensorEntityDescription(
        key="escalations_today",
        translation_key="escalations_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value=lambda m: m.today.escalations,
    ),
    *(
        RoutingSensorEntityDescription(
            key=f"latency_p50_{tier}",
            translation_key="latency_p50",
            translation_placeholders={"tier": tier},
            value=_percentile(tier, "p50"),
            **_LATENCY,
        )
        for tier in METRIC_TIERS
    ),
    *(
        RoutingSensorEntityDescription(
            key=f"latency_p95_{tier}",
            translation_key="latency_p95",
            translation_placeholders={"tier": tier},
            value=_percentile(tier, "p95"),
            **_LATENCY,
        )
        for tier in METRIC_TIERS
    ),
    RoutingSensorEntityDescription(
        key="last_decision",
        translation_key="last_decision",
        device_class=SensorDeviceClass.ENUM,
        options=LAST_DECISION_OPTIONS,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=_last_tier,
        attributes=_last_attributes,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: JarvisConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One set of routing sensors per entry (its agents together), and its pending approvals."""
    async_add_entities([PendingApprovalsSensor(entry, hass.data[DATA_GATES][entry.entry_id])])
    metrics = entry.runtime_data.metrics
    if metrics is None:  # pragma: no cover - set up before the platforms, always
        return
    async_add_entities(RoutingSensor(metrics, description) for description in SENSORS)


class RoutingSensor(CoordinatorEntity[RoutingMetricsCoordinator], SensorEntity):
    """One figure of the router, on the entry's 'Jarvis router' service device."""

    _attr_has_entity_name = True
    entity_description: RoutingSensorEntityDescription

    def __init__(
        self, coordinator: RoutingMetricsCoordinator, description: RoutingSensorEntityDescription
    ) -> None:
        """Bind the description to the entry's router device."""
        super().__init__(coordinator)
        self.entity_description = description
        instance_id = coordinator.config_entry.unique_id or coordinator.config_entry.entry_id
        self._attr_unique_id = f"{instance_id}_router_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"{instance_id}_router")},
            name="Jarvis router",
            manufacturer="Jarvis",
            model="Model router",
            entry_type=DeviceEntryType.SERVICE,
        )

    @property
    def native_value(self) -> StateType:
        """The figure."""
        return self.entity_description.value(self.coordinator.data)

    @property
    def last_reset(self) -> datetime | None:
        """Start of the period a cost sensor counts."""
        if (reset := self.entity_description.reset_at) is None:
            return None
        return reset(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Breakdowns (costs per provider and agent, budgets, the last decision's details)."""
        if (attributes := self.entity_description.attributes) is None:
            return None
        return attributes(self.coordinator.data)
