"""Routing sensors and budget alerts, end to end: real agent, fake providers, HA's prometheus.

Scripted conversations go through the real routing agent (providers are the official SDKs
against loopback servers speaking their wire format); the figures the sensors and HA's own
prometheus integration show are compared with what the ledger holds.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import conversation
from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorStateClass
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT, STATE_UNAVAILABLE
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from prometheus_client.parser import text_string_to_metric_families
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.jarvis.const import (
    CONF_BUDGET_DAILY,
    CONF_BUDGET_MONTHLY,
    DOMAIN,
    EVENT_ROUTING_DECISION,
    SUBENTRY_CONVERSATION,
)
from custom_components.jarvis.router.ledger import DecisionRecord
from custom_components.jarvis.routing_metrics import REFRESH_COOLDOWN_S, period_starts
from tests.support.fake_providers.base import Reply
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer
from tests.support.worker import Worker

from .routing_helpers import AGENT_ID, agent, confident, provider, setup_shop, streamed, unsure

COST_TODAY = "sensor.jarvis_router_cost_today"
COST_MONTH = "sensor.jarvis_router_cost_this_month"
LOCAL_SHARE = "sensor.jarvis_router_local_share_today"
REQUESTS = "sensor.jarvis_router_requests_today"
ESCALATIONS = "sensor.jarvis_router_escalations_today"
LAST = "sensor.jarvis_router_last_decision"
NOON = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@dataclass
class Servers:
    """A local OpenAI-compatible server (t1) and OpenAI's cloud (t2)."""

    local: OpenAIServer
    cloud: OpenAIServer


@pytest.fixture
async def servers() -> AsyncGenerator[Servers]:
    """Both provider servers, on loopback."""
    started = Servers(await OpenAIServer().start(), await OpenAIServer().start())
    yield started
    await started.local.stop()
    await started.cloud.stop()


def _subentries(servers: Servers, **agent_overrides: Any) -> list[dict[str, Any]]:
    return [
        provider("llama", "openai_compatible", servers.local.base_url),
        provider("gpt", "openai", servers.cloud.base_url, price_in=2.5, price_out=10.0),
        agent(**agent_overrides),
    ]


async def _ask(hass: HomeAssistant, text: str) -> conversation.ConversationResult:
    return await conversation.async_converse(
        hass, text, None, Context(), language="en", agent_id=AGENT_ID
    )


async def _settle(hass: HomeAssistant) -> None:
    """Let the debounced refresh run (it fires at most once per cooldown)."""
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=REFRESH_COOLDOWN_S + 1))
    await hass.async_block_till_done()


def _agent_id(entry: MockConfigEntry) -> str:
    return next(
        s.subentry_id for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CONVERSATION
    )


def _jarvis_samples(text: str) -> dict[tuple[str, str], float]:
    """(metric name, entity) -> value for every sample about a Jarvis router sensor."""
    samples: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            entity = sample.labels.get("entity", "")
            if entity.startswith("sensor.jarvis_router_"):
                samples[(sample.name, entity)] = sample.value
    return samples


async def test_prometheus_exports_what_the_ledger_holds(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    session_worker: Worker,
    prometheus_registry: object,
    servers: Servers,
) -> None:
    assert await async_setup_component(hass, "prometheus", {"prometheus": {}})
    shop = await setup_shop(hass, session_worker, _subentries(servers))
    local, cloud = servers.local, servers.cloud

    await _ask(hass, "turn on the kitchen light")  # t0
    local.script(CHAT_PATH, Reply(json=confident("Aluminium is light and stiff.")))
    await _ask(hass, "what is a good bracket material")  # t1
    local.script(CHAT_PATH, Reply(json=unsure("Maybe about forty I think")))
    cloud.script(CHAT_PATH, streamed("Use cyanoacrylate on roughened faces."))
    await _ask(hass, "how should I glue a printed hinge")  # t1 unsure -> t2 (an escalation)
    local.script(CHAT_PATH, Reply(json=confident("Use a brim.")))
    await _ask(hass, "how do I stop warping")  # t1
    await _settle(hass)

    ledger = shop.entry.runtime_data.ledger
    day, month = period_starts(dt_util.utcnow())
    spent_today = sum(ledger.spend(day).values())
    assert spent_today > 0
    assert ledger.spend(day) == {"gpt": pytest.approx(spent_today)}
    records = ledger.query(limit=10)
    assert [r.tier for r in reversed(records)] == ["t0", "t1", "t2", "t1"]

    client = await hass_client()
    response = await client.get("/api/prometheus")
    assert response.status == 200
    text = await response.text()
    samples = _jarvis_samples(text)

    assert samples[("homeassistant_sensor_monetary_usd", COST_TODAY)] == pytest.approx(spent_today)
    assert samples[("homeassistant_sensor_monetary_usd", COST_MONTH)] == pytest.approx(
        sum(ledger.spend(month).values())
    )
    assert samples[("homeassistant_sensor_unit_percent", LOCAL_SHARE)] == 75.0
    assert samples[("homeassistant_sensor_state", REQUESTS)] == 4
    assert samples[("homeassistant_sensor_state", ESCALATIONS)] == 1
    # One decision per tier except t1 (two): nearest-rank p50 / p95 from the ledger's latencies.
    t1 = sorted(r.latency_ms for r in records if r.tier == "t1")
    t2 = [r.latency_ms for r in records if r.tier == "t2"]
    duration = "homeassistant_sensor_duration_ms"
    assert samples[(duration, "sensor.jarvis_router_latency_p50_t1")] == pytest.approx(t1[0])
    assert samples[(duration, "sensor.jarvis_router_latency_p95_t1")] == pytest.approx(t1[1])
    assert samples[(duration, "sensor.jarvis_router_latency_p95_t2")] == pytest.approx(t2[0])
    assert (duration, "sensor.jarvis_router_latency_p50_t2f") not in samples  # no t2f yet

    last = hass.states.get(LAST)
    assert last is not None
    assert last.state == "t1"
    assert last.attributes["provider"] == "llama"
    cost = hass.states.get(COST_TODAY)
    assert cost is not None
    assert cost.attributes["by_provider"] == {"gpt": pytest.approx(spent_today)}
    assert cost.attributes["by_agent"] == {_agent_id(shop.entry): pytest.approx(spent_today)}


async def test_sensor_classes_allow_long_term_statistics(
    hass: HomeAssistant, session_worker: Worker, servers: Servers
) -> None:
    await setup_shop(hass, session_worker, _subentries(servers))
    expected = {
        COST_TODAY: ("monetary", SensorStateClass.TOTAL, "USD"),
        COST_MONTH: ("monetary", SensorStateClass.TOTAL, "USD"),
        LOCAL_SHARE: (None, SensorStateClass.MEASUREMENT, "%"),
        ESCALATIONS: (None, SensorStateClass.TOTAL_INCREASING, None),
        "sensor.jarvis_router_latency_p95_t1": ("duration", SensorStateClass.MEASUREMENT, "ms"),
    }
    for entity_id, (device_class, state_class, unit) in expected.items():
        state = hass.states.get(entity_id)
        assert state is not None, entity_id
        assert state.attributes.get(ATTR_DEVICE_CLASS) == device_class
        assert state.attributes.get(ATTR_STATE_CLASS) == state_class
        assert state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) == unit
    cost = hass.states.get(COST_TODAY)
    assert cost is not None
    assert cost.state == "0.0"
    assert cost.attributes["last_reset"] == period_starts(dt_util.utcnow())[0].isoformat()
    month = hass.states.get(COST_MONTH)
    assert month is not None
    assert month.attributes["last_reset"] == period_starts(dt_util.utcnow())[1].isoformat()
    # Nothing answered yet: no share, no latency, no last decision.
    for entity_id in (LOCAL_SHARE, "sensor.jarvis_router_latency_p50_t0", LAST):
        state = hass.states.get(entity_id)
        assert state is not None
        assert state.state == "unknown", entity_id


async def _spent_earlier(
    hass: HomeAssistant, entry: MockConfigEntry, usd: float, when: datetime | None = None
) -> None:
    """A paid cloud answer earlier in the period, written to the real ledger and announced."""
    record = DecisionRecord(
        created_at=when or dt_util.utcnow(),
        agent_id=_agent_id(entry),
        text="an earlier question",
        tier="t2",
        provider="gpt",
        attempts=[{"tier": "t2", "name": "gpt", "outcome": "accepted", "cost_usd": usd}],
        cost_usd=usd,
    )
    await hass.async_add_executor_job(entry.runtime_data.ledger.append, record)
    hass.bus.async_fire(EVENT_ROUTING_DECISION, record.to_dict())
    await _settle(hass)


def _budget_issue(hass: HomeAssistant, entry: MockConfigEntry, period: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"budget_{_agent_id(entry)}_{period}")


async def test_exhausted_budget_blocks_cloud_raises_an_issue_and_clears_at_midnight(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
    freezer: FrozenDateTimeFactory,
) -> None:
    freezer.move_to(NOON)
    shop = await setup_shop(hass, session_worker, _subentries(servers, **{CONF_BUDGET_DAILY: 1.0}))
    local, cloud = servers.local, servers.cloud
    assert _budget_issue(hass, shop.entry, "daily") is None

    await _spent_earlier(hass, shop.entry, 0.85)
    issue = _budget_issue(hass, shop.entry, "daily")
    assert issue is not None
    assert issue.translation_key == "budget_near"
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders == {
        "agent": "Jarvis",
        "period": "daily",
        "spent": "0.85",
        "cap": "1.00",
        "percent": "85",
    }

    await _spent_earlier(hass, shop.entry, 0.15)
    issue = _budget_issue(hass, shop.entry, "daily")
    assert issue is not None
    assert issue.translation_key == "budget_exhausted"
    assert issue.severity is ir.IssueSeverity.ERROR

    # The local model is unsure; the cloud would be asked, but the day's budget is gone.
    local.script(CHAT_PATH, streamed("Probably forty I guess"))
    result = await _ask(hass, "how should I glue a printed hinge")
    speech = str(result.response.speech["plain"]["speech"])
    assert speech.startswith("Probably forty I guess")
    assert "budget is used up" in speech
    assert not cloud.requests
    await shop.entry.runtime_data.writer.async_flush()  # written just after the answer
    (record, *_) = shop.entry.runtime_data.ledger.query(limit=1)
    assert record.outcome == "budget_fallback"
    assert [a["outcome"] for a in record.attempts if a["tier"] == "t2"] == ["skipped_budget"]

    # 00:00 UTC: a new day, a new daily budget; the issue goes by itself.
    freezer.move_to(NOON.replace(hour=0) + timedelta(days=1))
    # Loop timers run on the real monotonic clock: fire the pending ones (the day change).
    async_fire_time_changed(hass, fire_all=True)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _budget_issue(hass, shop.entry, "daily") is None
    cost = hass.states.get(COST_TODAY)
    assert cost is not None
    assert cost.state == "0.0"
    month = hass.states.get(COST_MONTH)
    assert month is not None
    assert float(month.state) == pytest.approx(1.0)


async def test_monthly_budget_alerts_and_a_zero_cap_stays_quiet(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
    freezer: FrozenDateTimeFactory,
) -> None:
    freezer.move_to(NOON)
    shop = await setup_shop(
        hass,
        session_worker,
        _subentries(servers, **{CONF_BUDGET_DAILY: 0.0, CONF_BUDGET_MONTHLY: 2.0}),
    )
    await _spent_earlier(hass, shop.entry, 1.9, when=NOON - timedelta(days=3))
    assert _budget_issue(hass, shop.entry, "daily") is None  # 0 means "never pay": no alarm
    issue = _budget_issue(hass, shop.entry, "monthly")
    assert issue is not None
    assert issue.translation_key == "budget_near"
    month = hass.states.get(COST_MONTH)
    assert month is not None
    assert month.attributes["budgets"] == [
        {"agent": "Jarvis", "period": "daily", "cap_usd": 0.0, "spent_usd": 0.0, "state": "ok"},
        {
            "agent": "Jarvis",
            "period": "monthly",
            "cap_usd": 2.0,
            "spent_usd": 1.9,
            "state": "near",
        },
    ]
    # Decisions of another entry's agents are not this entry's business.
    hass.bus.async_fire(EVENT_ROUTING_DECISION, {"agent_id": "someone-else", "tier": "t2"})
    await _settle(hass)
    last = hass.states.get(LAST)
    assert last is not None
    assert last.state == "t2"
    assert last.attributes["cost_usd"] == 1.9


async def test_unreadable_ledger_makes_the_sensors_unavailable(
    hass: HomeAssistant, session_worker: Worker, servers: Servers
) -> None:
    shop = await setup_shop(hass, session_worker, _subentries(servers))
    ledger = shop.entry.runtime_data.ledger
    await hass.async_add_executor_job(ledger.close)
    hass.bus.async_fire(EVENT_ROUTING_DECISION, {"agent_id": _agent_id(shop.entry), "tier": "t1"})
    await _settle(hass)
    state = hass.states.get(COST_TODAY)
    assert state is not None
    assert state.state == STATE_UNAVAILABLE


async def test_entry_options_cap_all_agents_together(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
    freezer: FrozenDateTimeFactory,
) -> None:
    freezer.move_to(NOON)
    shop = await setup_shop(hass, session_worker, _subentries(servers))
    entry = shop.entry
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    assert flow["type"] is FlowResultType.FORM
    assert flow["step_id"] == "init"
    done = await hass.config_entries.options.async_configure(
        flow["flow_id"], {CONF_BUDGET_DAILY: 0.5}
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {CONF_BUDGET_DAILY: 0.5}
    await hass.async_block_till_done()  # the entry reloads with the new caps

    await _spent_earlier(hass, entry, 0.5)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"budget_{entry.entry_id}_daily")
    assert issue is not None
    assert issue.translation_key == "budget_exhausted"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["agent"] == "All agents"
    assert _budget_issue(hass, entry, "daily") is None  # the agent itself has no cap

    # The agent has no cap of its own, but all agents together are over theirs.
    servers.local.script(CHAT_PATH, streamed("Probably superglue I guess"))
    result = await _ask(hass, "how should I glue a printed hinge")
    assert "budget is used up" in str(result.response.speech["plain"]["speech"])
    assert not servers.cloud.requests
    await entry.runtime_data.writer.async_flush()  # written just after the answer
    (record, *_) = entry.runtime_data.ledger.query(limit=1)
    (skipped,) = [a for a in record.attempts if a["tier"] == "t2"]
    assert skipped["outcome"] == "skipped_budget"
    assert skipped["detail"].startswith("all agents: ")

    # Clearing the option removes the cap and, at the next refresh, the issue.
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(flow["flow_id"], {})
    await hass.async_block_till_done()
    assert entry.options == {}
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"budget_{entry.entry_id}_daily") is None
