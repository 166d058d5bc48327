"""dashboards/grafana/routing.json: it parses, and every metric it queries is exported.

The add-on's names come from the real worker's /metrics; the Jarvis sensors' names from HA's own
prometheus integration after a real routed request, so neither side is written down twice.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import aiohttp
from homeassistant.components import conversation
from homeassistant.core import Context, HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from tests.custom_components.jarvis.routing_helpers import AGENT_ID, agent, setup_shop
from tests.support.worker import Worker

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "grafana" / "routing.json"
# PromQL words that look like metric names.
_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
}
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# Every add-on metric the issue names must be on the dashboard.
ADDON_FAMILIES = (
    "jarvis_addon_cv_frame_seconds",
    "jarvis_addon_cv_detections_total",
    "jarvis_addon_printer_state",
    "jarvis_addon_print_job_duration_seconds",
    "jarvis_addon_cad_job_duration_seconds",
    "jarvis_addon_cad_job_failures_total",
    "jarvis_addon_mqtt_reconnects_total",
    "jarvis_addon_llm_request_duration_seconds",
)


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def metrics_in(expr: str) -> set[str]:
    """Metric names a PromQL expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # label values
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names: set[str] = set()
    for match in _NAME.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group() in _KEYWORDS:
            continue  # a function or an operator
        names.add(match.group())
    return names


def exported(exposition: str) -> set[str]:
    """Names a query may use against this exposition (TYPE lines, histogram series, samples)."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind == "histogram":
                names.update(f"{name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
        elif line and not line.startswith("#"):
            names.add(_NAME.match(line).group())  # type: ignore[union-attr]
    return names


def test_metric_extraction() -> None:
    assert metrics_in(
        'histogram_quantile(0.95, sum by (le, camera) (rate(x_bucket{a="b(c)"}[5m])))'
    ) == {"x_bucket"}
    assert metrics_in('up == 1 and on (job) foo_total{entity=~"sensor.x_.*"}') == {
        "up",
        "foo_total",
    }


async def test_every_queried_metric_is_exported(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    session_worker: Worker,
    prometheus_registry: object,
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "jarvis-routing"
    queried: set[str] = set()
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            queried |= metrics_in(target["expr"])
    for family in ADDON_FAMILIES:
        assert any(q == family or q.startswith(f"{family}_") for q in queried), family

    # HA side: Jarvis and HA's prometheus integration, after one real request (t0).
    assert await async_setup_component(hass, "prometheus", {"prometheus": {}})
    await setup_shop(hass, session_worker, [agent()])
    await conversation.async_converse(
        hass, "turn on the kitchen light", None, Context(), language="en", agent_id=AGENT_ID
    )
    await hass.async_block_till_done()
    client = await hass_client()
    ha_text = await (await client.get("/api/prometheus")).text()

    # Add-on side: the real worker's /metrics.
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{session_worker.url}/metrics",
            headers={"Authorization": f"Bearer {session_worker.api_token}"},
        ) as resp,
    ):
        assert resp.status == 200
        addon_text = await resp.text()

    missing = queried - exported(ha_text) - exported(addon_text)
    assert not missing, f"the dashboard queries metrics nobody exports: {sorted(missing)}"
    # The HA names really are the Jarvis sensors.
    assert 'entity="sensor.jarvis_router_cost_today"' in ha_text
    assert 'entity="sensor.jarvis_router_latency_p50_t0"' in ha_text
