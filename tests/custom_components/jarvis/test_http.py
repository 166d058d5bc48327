"""The HTTP API: POST /api/jarvis/query and GET /api/jarvis/routing/logs.

Real HA (its HTTP server, auth and conversation agent manager), the real add-on worker, and the
providers' official SDKs talking to loopback servers that speak their wire formats.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
import json
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_capture_events,
)

from custom_components.jarvis.agent import BUDGET_NOTE
from custom_components.jarvis.const import (
    CONF_API_TOKEN,
    CONF_BUDGET_DAILY,
    CONF_TIERS,
    DOMAIN,
    EVENT_ROUTING_DECISION,
    MAX_REQUEST_CHARS,
)
from custom_components.jarvis.http import MAX_BODY_BYTES
from tests.support.fake_providers import openai as oai, perplexity as ppx
from tests.support.fake_providers.base import Reply
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer
from tests.support.fake_providers.perplexity import RESPONSES_PATH, PerplexityServer
from tests.support.worker import Worker

from .routing_helpers import LIGHT, Shop, agent, confident, provider, setup_shop, streamed, unsure

QUERY = "/api/jarvis/query"
LOGS = "/api/jarvis/routing/logs"
ClientFactory = Callable[..., Coroutine[Any, Any, TestClient]]


@dataclass
class Servers:
    """A local OpenAI-compatible server (t1), OpenAI's cloud (t2) and Perplexity (t2f)."""

    local: OpenAIServer
    cloud: OpenAIServer
    fresh: PerplexityServer

    @property
    def request_count(self) -> int:
        return len(self.local.requests) + len(self.cloud.requests) + len(self.fresh.requests)


async def start_servers() -> Servers:
    return Servers(
        await OpenAIServer().start(), await OpenAIServer().start(), await PerplexityServer().start()
    )


async def stop_servers(servers: Servers) -> None:
    for server in (servers.local, servers.cloud, servers.fresh):
        await server.stop()


@pytest.fixture
async def servers() -> AsyncGenerator[Servers]:
    started = await start_servers()
    yield started
    await stop_servers(started)


@dataclass
class Workshop:
    """Jarvis with three agents, in this order.

    "Jarvis" (the recommended policy; the default), "Frugal" (no cloud budget) and "Models"
    (no t0: HA's intent matching takes seconds on a text of thousands of characters).
    """

    shop: Shop
    agents: dict[str, tuple[str, str]]  # title -> (entity id, subentry id)

    @property
    def entry_id(self) -> str:
        return self.shop.entry.entry_id

    def entity(self, title: str) -> str:
        return self.agents[title][0]

    def subentry(self, title: str) -> str:
        return self.agents[title][1]


def agents_of(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, tuple[str, str]]:
    """Each conversation agent's entity id and subentry id, by subentry title."""
    registry = er.async_get(hass)
    found: dict[str, tuple[str, str]] = {}
    for subentry in entry.subentries.values():
        entity_id = registry.async_get_entity_id("conversation", DOMAIN, subentry.subentry_id)
        if entity_id is not None:
            found[subentry.title] = (entity_id, subentry.subentry_id)
    return found


async def setup_workshop(hass: HomeAssistant, worker: Worker, servers: Servers) -> Workshop:
    shop = await setup_shop(
        hass,
        worker,
        [
            provider("llama", "openai_compatible", servers.local.base_url),
            provider("gpt", "openai", servers.cloud.base_url, price_in=1.0, price_out=4.0),
            provider("pplx", "perplexity", servers.fresh.url, model="fast-search"),
            agent(),
            {**agent(**{CONF_BUDGET_DAILY: 0.0}), "title": "Frugal"},
            {**agent(**{CONF_TIERS: ["t1", "t2"]}), "title": "Models"},
        ],
    )
    workshop = Workshop(shop, agents_of(hass, shop.entry))
    assert set(workshop.agents) == {"Jarvis", "Frugal", "Models"}
    return workshop


@pytest.fixture
async def workshop(hass: HomeAssistant, session_worker: Worker, servers: Servers) -> Workshop:
    return await setup_workshop(hass, session_worker, servers)


@dataclass(frozen=True)
class Step:
    """One request of the seed's scenario and what must come of it."""

    name: str
    text: str
    tier: str
    outcome: str
    cost_usd: float
    agent: str | None = None  # title; None: the default agent


SCENARIO = (
    Step("t0 device command", "turn on the kitchen light", "t0", "action_done", 0.0),
    Step("t1 accepted", "what does a pipe bracket do", "t1", "answered", 0.0),
    # 1000 in x $1/M + 10 out x $4/M
    Step("escalated", "what temperature does PLA print at", "t2", "answered", 0.00104),
    Step("fresh facts", "who won the formula 1 race yesterday?", "t2f", "answered", 0.0061),
    # the default usage (10 in, 5 out) at the same prices
    Step("failover", "say something nice", "t2", "answered", 0.00003),
    Step(
        "budget exhausted",
        "what is a good bracket material",
        "t1",
        "budget_fallback",
        0.0,
        agent="Frugal",
    ),
)


def script_scenario(servers: Servers) -> None:
    """The providers' answers for SCENARIO, in request order per server.

    The last candidate of a plan streams (the cloud; the local model when the cloud is over
    budget); earlier ones answer whole.
    """
    servers.local.script(
        CHAT_PATH,
        Reply(json=confident("A bracket holds a pipe to a wall.")),  # t1 accepted
        Reply(json=unsure("Maybe about forty two I think")),  # escalated
        oai.error_reply(500, "model crashed", "server_error"),  # failover
        streamed("Probably steel I guess"),  # budget exhausted
    )
    servers.cloud.script(
        CHAT_PATH,
        streamed("PLA prints at about 200 °C.", oai.usage(1000, 10)),
        streamed("Still here.", oai.usage(10, 5)),
    )
    servers.fresh.script(
        RESPONSES_PATH,
        Reply(
            json=ppx.response(
                [
                    ppx.message_item(
                        "Lando Norris won [1].",
                        [ppx.annotation("https://news.example/race", "Race report", 18, 21)],
                    )
                ],
                usage_body=ppx.usage(900, 30, total_cost=0.0061),
            )
        ),
    )


async def ask(client: TestClient, text: str, **fields: Any) -> dict[str, Any]:
    """A good query: 200 and its JSON."""
    response = await client.post(QUERY, json={"text": text, **fields})
    body = await response.json()
    assert response.status == 200, body
    return dict(body)


async def run_scenario(client: TestClient, workshop: Workshop, servers: Servers) -> list[Any]:
    """Every SCENARIO step through POST /api/jarvis/query; the responses, oldest first."""
    script_scenario(servers)
    answers = []
    for step in SCENARIO:
        fields = {"agent_id": workshop.entity(step.agent)} if step.agent else {}
        answers.append(await ask(client, step.text, language="en", **fields))
    return answers


async def logs(client: TestClient, **params: Any) -> dict[str, Any]:
    """A good log read: 200 and its JSON."""
    response = await client.get(LOGS, params={k: str(v) for k, v in params.items()})
    body = await response.json()
    assert response.status == 200, body
    return dict(body)


async def everything(client: TestClient) -> list[dict[str, Any]]:
    return list((await logs(client, limit=500))["decisions"])


async def test_scenario_through_the_api(
    hass: HomeAssistant,
    workshop: Workshop,
    servers: Servers,
    hass_client: ClientFactory,
    hass_admin_user: MockUser,
) -> None:
    """The seed's scenario, only over HTTP: each answer names its decision, the log has them all."""
    events = async_capture_events(hass, EVENT_ROUTING_DECISION)
    client = await hass_client()
    answers = await run_scenario(client, workshop, servers)

    assert [c.data["entity_id"] for c in workshop.shop.light_on_calls] == [[LIGHT]]
    assert [a["answer"] for a in answers[1:5]] == [
        "A bracket holds a pipe to a wall.",
        "PLA prints at about 200 °C.",
        "Lando Norris won [1].",
        "Still here.",
    ]
    assert answers[5]["answer"].startswith("Probably steel I guess")
    assert answers[5]["answer"].endswith(BUDGET_NOTE)
    # HA's rule for LLM answers (async_get_result_from_chat_log): action_done unless an error.
    assert [a["response_type"] for a in answers] == ["action_done"] * len(SCENARIO)
    assert [a["agent_id"] for a in answers] == [workshop.entity("Jarvis")] * 5 + [
        workshop.entity("Frugal")
    ]
    assert len({a["conversation_id"] for a in answers}) == len(SCENARIO)
    assert len(servers.cloud.requests) == 2  # the budget step never reached the cloud

    page = await logs(client)
    assert page["total"] == len(SCENARIO)
    assert page["next_offset"] is None
    decisions = page["decisions"]
    # Newest first: the log is the requests in reverse, each matching its answer.
    assert [d["id"] for d in decisions] == [a["decision_id"] for a in reversed(answers)]
    for step, answer, decision in zip(SCENARIO, answers, reversed(decisions), strict=True):
        assert (answer["tier"], decision["tier"]) == (step.tier, step.tier), step.name
        assert decision["outcome"] == step.outcome, step.name
        assert decision["cost_usd"] == pytest.approx(step.cost_usd), step.name
        assert answer["cost_usd"] == decision["cost_usd"], step.name
        assert decision["latency_ms"] > 0, step.name
        assert decision["text"] == step.text, step.name
        assert decision["user_id"] == hass_admin_user.id, step.name
        assert decision["agent_id"] == workshop.subentry(step.agent or "Jarvis"), step.name
        assert decision["attempts"], step.name
    t0, t1, escalated, fresh, failover, budget = reversed(decisions)
    assert t0["confidence"] == 1.0
    assert [a["outcome"] for a in t0["attempts"]] == ["accepted"]
    assert t1["confidence"] >= 0.6
    assert [(a["tier"], a["outcome"]) for a in t1["attempts"]] == [
        ("t0", "no_match"),
        ("t1", "accepted"),
    ]
    assert [(a["tier"], a["outcome"]) for a in escalated["attempts"]] == [
        ("t0", "no_match"),
        ("t1", "low_confidence"),
        ("t2", "accepted"),
    ]
    assert escalated["attempts"][1]["confidence"]["score"] < 0.6
    assert escalated["tokens_in"] >= 1000
    assert [(a["tier"], a["outcome"]) for a in fresh["attempts"]] == [
        ("t0", "no_match"),
        ("t2f", "accepted"),
    ]
    assert fresh["freshness"]["needs_fresh"] is True
    assert [(a["tier"], a["outcome"]) for a in failover["attempts"]] == [
        ("t0", "no_match"),
        ("t1", "error"),
        ("t2", "accepted"),
    ]
    assert failover["attempts"][1]["error_type"] == "ProviderUnavailableError"
    assert budget["confidence"] < 0.6
    assert ("t2", "skipped_budget") in [(a["tier"], a["outcome"]) for a in budget["attempts"]]

    # One event per request, carrying the logged record, in the caller's context.
    assert [e.data for e in events] == list(reversed(decisions))
    assert {e.context.user_id for e in events} == {hass_admin_user.id}


async def test_budget_note_follows_a_streamed_answer_with_a_space(
    workshop: Workshop, servers: Servers, hass_client: ClientFactory
) -> None:
    client = await hass_client()
    servers.local.script(CHAT_PATH, streamed("Probably steel I guess"))
    answer = await ask(
        client, "what is a good bracket material", agent_id=workshop.entity("Frugal")
    )
    assert answer["answer"] == f"Probably steel I guess {BUDGET_NOTE}"


async def test_conversation_continues_over_the_api(
    workshop: Workshop, servers: Servers, hass_client: ClientFactory
) -> None:
    """A conversation_id given back continues the conversation (the model sees the first turn)."""
    client = await hass_client()
    servers.local.script(
        CHAT_PATH, Reply(json=confident("It is blue.")), Reply(json=confident("Still blue."))
    )
    first = await ask(client, "what colour is the sky")
    second = await ask(client, "and now?", conversation_id=first["conversation_id"])
    assert second["conversation_id"] == first["conversation_id"]
    sent = servers.local.requests_to(CHAT_PATH)[1].json["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"][-2:] == [
        "what colour is the sky",
        "and now?",
    ]
    decisions = await everything(client)
    assert [d["id"] for d in decisions] == [second["decision_id"], first["decision_id"]]
    assert decisions[0]["conversation_id"] == first["conversation_id"]


async def test_a_new_conversation_is_logged_under_its_id(
    workshop: Workshop, hass_client: ClientFactory
) -> None:
    client = await hass_client()
    answer = await ask(client, "turn on the kitchen light")
    (decision,) = await everything(client)
    assert decision["conversation_id"] == answer["conversation_id"]


async def test_pagination_newest_first(
    workshop: Workshop, servers: Servers, hass_client: ClientFactory
) -> None:
    client = await hass_client()
    answers = await run_scenario(client, workshop, servers)
    newest_first = [a["decision_id"] for a in reversed(answers)]

    pages, offset = [], 0
    while offset is not None:
        page = await logs(client, limit=4, offset=offset)
        assert (page["total"], page["limit"], page["offset"]) == (6, 4, offset)
        pages.append([d["id"] for d in page["decisions"]])
        offset = page["next_offset"]
    assert pages == [newest_first[:4], newest_first[4:]]

    page = await logs(client, limit=2, offset=2)
    assert [d["id"] for d in page["decisions"]] == newest_first[2:4]
    assert page["next_offset"] == 4
    page = await logs(client, limit=1, offset=5)
    assert [d["id"] for d in page["decisions"]] == newest_first[5:]
    assert page["next_offset"] is None
    page = await logs(client, offset=6)
    assert (page["decisions"], page["total"], page["next_offset"]) == ([], 6, None)
    page = await logs(client)
    assert (page["limit"], page["offset"], len(page["decisions"])) == (50, 0, 6)
    times = [datetime.fromisoformat(d["created_at"]) for d in page["decisions"]]
    assert times == sorted(times, reverse=True)


async def test_filters(
    hass: HomeAssistant, workshop: Workshop, servers: Servers, hass_client: ClientFactory
) -> None:
    client = await hass_client()
    answers = await run_scenario(client, workshop, servers)
    ids = [a["decision_id"] for a in answers]  # oldest first

    async def found(**params: Any) -> list[str]:
        page = await logs(client, **params)
        assert page["total"] == len(page["decisions"])
        return [d["id"] for d in reversed(page["decisions"])]

    assert await found(tier="t0") == ids[:1]
    assert await found(tier="t1") == [ids[1], ids[5]]
    assert await found(tier="t2") == [ids[2], ids[4]]
    assert await found(tier="t2f") == [ids[3]]
    assert await found(agent=workshop.entity("Frugal")) == ids[5:]
    assert await found(agent=workshop.subentry("Frugal")) == ids[5:]
    assert await found(agent=workshop.entity("Jarvis")) == ids[:5]
    assert await found(agent=workshop.entity("Jarvis"), tier="t1") == [ids[1]]
    assert await found(config_entry_id=workshop.entry_id) == ids
    # A removed agent's id is no error: its decisions stay until they are pruned.
    assert await found(agent="01JREMOVEDAGENT0000000000") == []
    # An empty filter is no filter.
    assert await found(tier="", agent="", since="", limit="", config_entry_id="") == ids

    # since: inclusive, given with an offset, in UTC, or without a zone (HA's time zone).
    decisions = await everything(client)
    third = datetime.fromisoformat(decisions[-3]["created_at"])  # the 3rd request
    assert await found(since=third.isoformat()) == ids[2:]
    assert await found(since=third.astimezone(dt_util.get_time_zone("Asia/Kolkata"))) == ids[2:]
    local = third.astimezone(dt_util.get_default_time_zone()).replace(tzinfo=None)
    assert str(dt_util.get_default_time_zone()) == "US/Pacific"  # so "local" is not UTC
    assert await found(since=local.isoformat()) == ids[2:]
    assert await found(since=dt_util.utcnow().isoformat()) == []
    assert await found(since="2020-01-01") == ids
    assert hass.config.time_zone == "US/Pacific"


async def test_unencoded_plus_in_since(
    workshop: Workshop, servers: Servers, hass_client: ClientFactory
) -> None:
    """A client that leaves the "+" of "+05:30" unencoded sends a space; it still means +05:30."""
    client = await hass_client()
    answers = await run_scenario(client, workshop, servers)
    decisions = await everything(client)
    third = datetime.fromisoformat(decisions[-3]["created_at"])
    since = third.astimezone(dt_util.get_time_zone("Asia/Kolkata")).isoformat()
    assert "+05:30" in since
    response = await client.get(f"{LOGS}?since={since}")  # sent as is: "+" is a space
    body = await response.json()
    assert response.status == 200, body
    assert [d["id"] for d in body["decisions"]] == [a["decision_id"] for a in answers[:1:-1]]
    response = await client.get(f"{LOGS}?since={quote(since)}")
    assert (await response.json())["decisions"] == body["decisions"]


async def _status(
    response: Any, status: int, error: str, field: str | None = None
) -> dict[str, Any]:
    body = await response.json()
    assert response.status == status, body
    assert response.content_type == "application/json"
    assert body["error"] == error, body
    assert body["message"], body
    assert body.get("field") == field, body
    return dict(body)


BAD_QUERIES: tuple[tuple[str, Any, int, str, str | None], ...] = (
    # name, body (bytes: raw; else JSON), status, error, field
    ("not json", b"turn on the light", 400, "invalid_json", None),
    ("empty body", b"", 400, "invalid_json", None),
    ("truncated json", b'{"text": "hi"', 400, "invalid_json", None),
    ("not utf-8", b'{"text": "\xff\xfe"}', 400, "invalid_json", None),
    ("array", ["turn on the kitchen light"], 400, "invalid_json", None),
    ("string", "turn on the kitchen light", 400, "invalid_json", None),
    ("null", None, 400, "invalid_json", None),
    ("no text", {}, 400, "invalid_text", "text"),
    ("null text", {"text": None}, 400, "invalid_text", "text"),
    ("empty text", {"text": ""}, 400, "invalid_text", "text"),
    ("blank text", {"text": " \n\t "}, 400, "invalid_text", "text"),
    ("number text", {"text": 42}, 400, "invalid_text", "text"),
    ("list text", {"text": ["turn on"]}, 400, "invalid_text", "text"),
    ("text too long", {"text": "x" * (MAX_REQUEST_CHARS + 1)}, 413, "text_too_long", "text"),
    ("agent number", {"text": "hi", "agent_id": 7}, 400, "invalid_agent_id", "agent_id"),
    ("conversation list", {"text": "hi", "conversation_id": []}, 400, "invalid_conversation_id", "conversation_id"),
    ("language object", {"text": "hi", "language": {}}, 400, "invalid_language", "language"),
    ("unknown field", {"text": "hi", "agent": "conversation.jarvis"}, 400, "unknown_field", "agent"),
    ("unknown agent", {"text": "hi", "agent_id": "conversation.nobody"}, 404, "unknown_agent", "agent_id"),
    ("not an agent", {"text": "hi", "agent_id": LIGHT}, 404, "unknown_agent", "agent_id"),
    ("HA's own agent", {"text": "hi", "agent_id": "conversation.home_assistant"}, 404, "unknown_agent", "agent_id"),
    ("body too large", {"text": "hi", "language": "x" * MAX_BODY_BYTES}, 413, "body_too_large", None),
)  # fmt: skip


async def test_bad_queries_are_refused_and_nothing_is_lost(
    hass: HomeAssistant, workshop: Workshop, servers: Servers, hass_client: ClientFactory
) -> None:
    client = await hass_client()
    earlier = await run_scenario(client, workshop, servers)
    before = await everything(client)
    sent_before = servers.request_count
    events = async_capture_events(hass, EVENT_ROUTING_DECISION)

    for name, body, status, error, field in BAD_QUERIES:
        if isinstance(body, bytes):
            response = await client.post(
                QUERY, data=body, headers={"Content-Type": "application/json"}
            )
        else:
            response = await client.post(QUERY, json=body)
        try:
            await _status(response, status, error, field)
        except AssertionError as err:
            raise AssertionError(f"{name}: {err}") from err

    # A chunked body has no Content-Length to refuse it by; it is measured once read.
    async def chunks() -> AsyncGenerator[bytes]:
        yield b'{"text": "hi", "language": "'
        for _ in range(MAX_BODY_BYTES // 1024):
            yield b"x" * 1024
        yield b'"}'

    response = await client.post(QUERY, data=chunks(), headers={"Content-Type": "application/json"})
    assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
    await _status(response, 413, "body_too_large")

    # Refused before any agent ran: no provider asked, no decision logged, no event.
    assert servers.request_count == sent_before
    assert not events
    assert await everything(client) == before
    assert [d["id"] for d in before] == [a["decision_id"] for a in reversed(earlier)]

    # Good requests still work; the longest allowed text is accepted.
    servers.local.script(CHAT_PATH, Reply(json=confident("That is a lot of x.")))
    after = await ask(client, "x" * MAX_REQUEST_CHARS, agent_id=workshop.entity("Models"))
    assert (after["tier"], after["answer"]) == ("t1", "That is a lot of x.")
    after_t0 = await ask(client, "turn on the kitchen light", agent_id="", language="")
    assert after_t0["tier"] == "t0"
    assert after_t0["agent_id"] == workshop.entity("Jarvis")
    assert [d["id"] for d in await everything(client)] == [
        after_t0["decision_id"],
        after["decision_id"],
        *(d["id"] for d in before),
    ]
    assert len(events) == 2


def confident_tool_call(name: str, args: dict[str, Any]) -> Any:
    """A local model's tool call, tokens it was sure of."""
    return oai.completion(
        None,
        tool_calls=[oai.tool_call("l1", name, json.dumps(args))],
        finish_reason="tool_calls",
        logprobs=[oai.token_logprob("x", -0.01, [("x", -0.01), ("y", -7.0)])],
    )


async def test_a_runaway_tool_loop_is_stopped_and_logged(
    workshop: Workshop, servers: Servers, hass_client: ClientFactory
) -> None:
    """A model that calls tools forever: the agent stops after 10 rounds, says so, and logs the turn."""
    client = await hass_client()
    call = confident_tool_call("HassTurnOn", {"name": "Kitchen light"})
    servers.local.default(CHAT_PATH, Reply(json=call))
    response = await client.post(QUERY, json={"text": "kitchen light please, brighten the bench"})
    body = await response.json()
    assert response.status == 200, body
    assert "I stopped after 10 rounds" in body["answer"]
    (decision,) = await everything(client)
    assert decision["id"] == body["decision_id"]
    assert decision["outcome"] == "error"
    assert "stopped after 10 rounds" in decision["reason"]
    assert len(decision["tool_calls_executed"]) == 11  # the accepted call, then 10 follow-up rounds
    # Nothing is stuck: the next request is answered.
    assert (await ask(client, "turn on the kitchen light"))["tier"] == "t0"


BAD_FILTERS: tuple[tuple[str, str, int, str, str], ...] = (
    # name, query string, status, error, field
    ("since not a date", "since=yesterday", 400, "invalid_filter", "since"),
    ("since month 13", "since=2026-13-01T00:00:00", 400, "invalid_filter", "since"),
    ("since before year 1 in UTC", "since=0001-01-01T00:00:00%2B01:00", 400, "invalid_filter", "since"),
    ("since epoch seconds", "since=1767225600", 400, "invalid_filter", "since"),
    ("unknown tier", "tier=t9", 400, "invalid_filter", "tier"),
    ("tier in capitals", "tier=T1", 400, "invalid_filter", "tier"),
    ("limit zero", "limit=0", 400, "invalid_filter", "limit"),
    ("limit too large", "limit=501", 400, "invalid_filter", "limit"),
    ("limit negative", "limit=-1", 400, "invalid_filter", "limit"),
    ("limit not a number", "limit=ten", 400, "invalid_filter", "limit"),
    ("limit fraction", "limit=1.5", 400, "invalid_filter", "limit"),
    ("limit underscores", "limit=1_0", 400, "invalid_filter", "limit"),
    ("limit beyond int", "limit=" + "9" * 5000, 400, "invalid_filter", "limit"),
    ("offset negative", "offset=-1", 400, "invalid_filter", "offset"),
    ("offset not a number", "offset=first", 400, "invalid_filter", "offset"),
    ("offset beyond SQLite", "offset=99999999999999999999", 400, "invalid_filter", "offset"),
    ("unknown agent entity", "agent=conversation.nobody", 400, "invalid_filter", "agent"),
    ("agent of another domain", f"agent={LIGHT}", 400, "invalid_filter", "agent"),
    ("unknown filter", "teir=t1", 400, "invalid_filter", "teir"),
    ("repeated filter", "tier=t1&tier=t2", 400, "invalid_filter", "tier"),
    ("unknown entry", "config_entry_id=nope", 404, "entry_not_found", "config_entry_id"),
)  # fmt: skip


async def test_bad_log_filters_are_refused(
    workshop: Workshop, servers: Servers, hass_client: ClientFactory
) -> None:
    client = await hass_client()
    await run_scenario(client, workshop, servers)
    before = await everything(client)
    provider_subentry = next(
        s.subentry_id for s in workshop.shop.entry.subentries.values() if s.title == "llama"
    )
    cases = [
        *BAD_FILTERS,
        ("agent is a provider", f"agent={provider_subentry}", 400, "invalid_filter", "agent"),
    ]
    for name, query, status, error, field in cases:
        response = await client.get(f"{LOGS}?{query}")
        try:
            body = await _status(response, status, error, field)
        except AssertionError as err:
            raise AssertionError(f"{name}: {err}") from err
        assert field in body["message"] or status == 404, (name, body)
    assert await everything(client) == before


async def test_filter_messages_say_what_is_expected(
    workshop: Workshop, hass_client: ClientFactory
) -> None:
    client = await hass_client()
    expected = {
        "tier=t9": "tier must be one of t0, t1, t2, t2f",
        "limit=501": "limit must be between 1 and 500",
        "limit=x": "limit must be a whole number",
        "offset=-1": "offset must be between 0 and 1000000000",
        "since=soon": "since must be an ISO 8601 date and time",
        "config_entry_id=nope": "No Jarvis entry has the ID nope",
    }
    for query, message in expected.items():
        body = await (await client.get(f"{LOGS}?{query}")).json()
        assert body["message"].startswith(message), (query, body)


async def test_two_entries(
    hass: HomeAssistant,
    workshop: Workshop,
    servers: Servers,
    worker: Worker,
    hass_client: ClientFactory,
) -> None:
    """With two Jarvis entries the log needs an entry, or an agent that names one."""
    client = await hass_client()
    main_answer = await ask(client, "turn on the kitchen light")
    annex = MockConfigEntry(
        domain=DOMAIN,
        title="Annex",
        unique_id=str(worker.health()["instance_id"]),
        data={CONF_URL: worker.url, CONF_API_TOKEN: worker.api_token},
        subentries_data=[{**agent(**{CONF_TIERS: ["t0"]}), "title": "Annex"}],
    )
    annex.add_to_hass(hass)
    assert await hass.config_entries.async_setup(annex.entry_id)
    await hass.async_block_till_done()
    ((annex_agent, annex_subentry),) = agents_of(hass, annex).values()

    annex_answer = await ask(client, "turn on the kitchen light", agent_id=annex_agent)
    assert annex_answer["tier"] == "t0"
    assert annex_answer["decision_id"] not in (None, main_answer["decision_id"])

    body = await _status(await client.get(LOGS), 400, "entry_required", "config_entry_id")
    assert "2" in body["message"]
    annex_log = await logs(client, config_entry_id=annex.entry_id)
    assert [d["id"] for d in annex_log["decisions"]] == [annex_answer["decision_id"]]
    main_log = await logs(client, config_entry_id=workshop.entry_id)
    assert [d["id"] for d in main_log["decisions"]] == [main_answer["decision_id"]]
    # The agent names its entry.
    assert (await logs(client, agent=annex_agent)) == annex_log
    assert (await logs(client, agent=annex_subentry)) == annex_log
    assert (await logs(client, agent=workshop.entity("Jarvis"))) == main_log
    # ... and must not contradict the one given.
    response = await client.get(
        LOGS, params={"config_entry_id": workshop.entry_id, "agent": annex_agent}
    )
    body = await _status(response, 400, "invalid_filter", "agent")
    assert annex.entry_id in body["message"]


async def test_unloaded_entry(
    hass: HomeAssistant, workshop: Workshop, servers: Servers, hass_client: ClientFactory
) -> None:
    """While the entry is unloaded its agents are unavailable; its decisions survive."""
    client = await hass_client()
    answer = await ask(client, "turn on the kitchen light")
    assert await hass.config_entries.async_unload(workshop.entry_id)

    await _status(
        await client.get(LOGS, params={"config_entry_id": workshop.entry_id}),
        409,
        "entry_not_loaded",
        "config_entry_id",
    )
    await _status(await client.get(LOGS), 400, "entry_required", "config_entry_id")
    await _status(await client.post(QUERY, json={"text": "hi"}), 404, "no_agent", "agent_id")
    body = await _status(
        await client.post(QUERY, json={"text": "hi", "agent_id": workshop.entity("Jarvis")}),
        503,
        "agent_unavailable",
        "agent_id",
    )
    assert workshop.entity("Jarvis") in body["message"]
    assert servers.request_count == 0

    assert await hass.config_entries.async_setup(workshop.entry_id)
    await hass.async_block_till_done()
    assert [d["id"] for d in await everything(client)] == [answer["decision_id"]]
    assert (await ask(client, "turn on the kitchen light"))["tier"] == "t0"


async def test_no_agent_set_up(
    hass: HomeAssistant, session_worker: Worker, servers: Servers, hass_client: ClientFactory
) -> None:
    """An entry with providers but no conversation agent: nothing to ask, an empty log."""
    await setup_shop(
        hass, session_worker, [provider("llama", "openai_compatible", servers.local.base_url)]
    )
    client = await hass_client()
    body = await _status(
        await client.post(QUERY, json={"text": "turn on the kitchen light"}),
        404,
        "no_agent",
        "agent_id",
    )
    assert "no Jarvis conversation agent" in body["message"]
    assert await logs(client) == {
        "decisions": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
        "next_offset": None,
    }
    assert servers.request_count == 0


async def test_no_jarvis_entry(hass: HomeAssistant, hass_client: ClientFactory) -> None:
    """The integration loaded without any entry: the views answer, in JSON."""
    assert await async_setup_component(hass, DOMAIN, {})
    client = await hass_client()
    await _status(await client.post(QUERY, json={"text": "hi"}), 404, "no_agent", "agent_id")
    body = await _status(await client.get(LOGS), 400, "entry_required", "config_entry_id")
    assert "0" in body["message"]


async def test_authentication_is_required(
    hass: HomeAssistant,
    workshop: Workshop,
    servers: Servers,
    hass_client: ClientFactory,
    hass_client_no_auth: Callable[[], Coroutine[Any, Any, TestClient]],
) -> None:
    client = await hass_client()
    answer = await ask(client, "turn on the kitchen light")
    events = async_capture_events(hass, EVENT_ROUTING_DECISION)
    anonymous = await hass_client_no_auth()
    assert (await anonymous.get(LOGS)).status == 401
    assert (await anonymous.post(QUERY, json={"text": "turn on the kitchen light"})).status == 401
    forged = await hass_client("not-a-token")
    assert (await forged.get(LOGS)).status == 401
    assert (await forged.post(QUERY, json={"text": "turn on the kitchen light"})).status == 401
    assert not events
    assert len(workshop.shop.light_on_calls) == 1
    assert [d["id"] for d in await everything(client)] == [answer["decision_id"]]


async def test_non_admins_may_ask_but_not_read_the_log(
    workshop: Workshop,
    servers: Servers,
    hass_client: ClientFactory,
    hass_read_only_access_token: str,
    hass_read_only_user: MockUser,
) -> None:
    """The log holds every user's requests, so only admins read it; anyone signed in may ask."""
    user = await hass_client(hass_read_only_access_token)
    servers.local.script(CHAT_PATH, Reply(json=confident("A bracket holds a pipe to a wall.")))
    answer = await ask(user, "what does a pipe bracket do")
    assert answer["tier"] == "t1"
    for query in ("", "?limit=1", f"?config_entry_id={workshop.entry_id}", "?limit=bad"):
        body = await _status(await user.get(f"{LOGS}{query}"), 403, "admin_required")
        assert "administrators" in body["message"]

    (decision,) = await everything(await hass_client())
    assert decision["id"] == answer["decision_id"]
    assert decision["user_id"] == hass_read_only_user.id
