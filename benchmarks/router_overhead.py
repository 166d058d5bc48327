"""Router overhead inside a real Home Assistant: what Jarvis adds on top of what it must do anyway.

One in-process HA (HA's own test harness from pytest-homeassistant-custom-component, no pytest),
a real add-on worker (no model) and Mosquitto for the Jarvis entry, a loopback OpenAI-compatible
server for the model tiers. Each measurement runs next to its baseline in the same run and prints
p50/p95 (or p99) and the ratio; no timing is asserted (setup failures still stop it). With 10 exposed entities, then 1,000:

(a) T0: the same 50 device commands and state questions through Jarvis (`conversation.jarvis`:
    LLM API prepared, HA's sentence triggers and intents, ledger) vs HA's default agent
    (`conversation.home_assistant`), interleaved. Goal: ratio <= 1.2.
(b) Routing decision per request, in microseconds: the exposed context (built from scratch, and
    as the agent gets it: cached until an entity, a registry or an exposure setting changes),
    assess_freshness + plan, assess() of a tool-call answer with 40 logprob tokens; and the other
    per-request work of the agent: candidates() (providers rebuilt per request) and
    to_tool_specs() (HA's tools as JSON schema: converted, and from the agent's cache). Baseline
    for the exposed context: listing the states and their exposure (the least any check costs).
(c) T1 through `async_converse` (T0 missed, the local answer accepted, a cloud candidate behind
    it) vs two baselines with the same request: the provider's complete() alone, and what every
    HA LLM agent does (HA's openai_conversation / ollama integrations): a ChatLog, HA's LLM API
    prompt (`async_provide_llm_data`, which lists every exposed entity) and the provider call.
    Goal: <= 5 ms over the raw call. Then where the agent's time goes (an instrumented pass).

    .venv/bin/python benchmarks/router_overhead.py [--rounds 3] [--decisions 400] [--t1 60]
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
import contextlib
from datetime import datetime, timedelta
import functools
import inspect
import logging
import math
from pathlib import Path
import statistics
import sys
import tempfile
import time
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from homeassistant import loader  # noqa: E402
from homeassistant.components import conversation  # noqa: E402
from homeassistant.components.homeassistant.exposed_entities import async_should_expose  # noqa: E402
from homeassistant.core import Context, HomeAssistant  # noqa: E402
from homeassistant.helpers import entity_registry as er, frame, llm  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
from homeassistant.util import dt as dt_util  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_mock_service,
    async_test_home_assistant,
)
from voluptuous_openapi import convert  # noqa: E402

from custom_components.jarvis import agent as jarvis_agent  # noqa: E402
from custom_components.jarvis.const import CONF_TIERS, DOMAIN  # noqa: E402
from custom_components.jarvis.exposure import ExposureCache, build_exposed_context  # noqa: E402
from custom_components.jarvis.provider_setup import build_provider  # noqa: E402
from custom_components.jarvis.router.confidence import assess  # noqa: E402
from custom_components.jarvis.router.freshness import assess_freshness  # noqa: E402
from custom_components.jarvis.router.ledger import DecisionRecord, Ledger  # noqa: E402
from custom_components.jarvis.router.policy import plan  # noqa: E402
from custom_components.jarvis.router.types import (  # noqa: E402
    Completion,
    CompletionRequest,
    Message,
    TokenLogprob,
    ToolCall,
    ToolSpec,
)
from tests.custom_components.jarvis.routing_helpers import (  # noqa: E402
    agent as agent_subentry,
    confident,
    provider as provider_subentry,
)
from tests.support.fake_providers.base import Reply  # noqa: E402
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer  # noqa: E402
from tests.support.jarvis_entry import async_setup_jarvis  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402
from tests.support.worker import Worker  # noqa: E402

T1_SUBENTRY = "01BENCHT1PROVIDER000000000"
CLOUD_SUBENTRY = "01BENCHCLOUDPROVIDER000000"
FULL_AGENT = "01BENCHAGENTFULL0000000000"  # t0, t1, t2 (recommended)
BASELINE_AGENT = "conversation.baseline"  # HaStyleAgent, added in (c)
MODELS_AGENT = "01BENCHAGENTMODELS00000000"  # t1, t2: no T0, the model path alone
DEFAULT_AGENT = "conversation.home_assistant"
T1_QUESTION = "what does a pipe bracket do"
T1_ANSWER = "A bracket holds a pipe to a wall."
SPEND_AGENT = "agent"

# entity_id, friendly name, state, extra attributes
HOME: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("light.kitchen_light", "Kitchen light", "off", {}),
    ("light.workshop_ceiling", "Workshop ceiling", "on", {}),
    ("light.bench_lamp", "Bench lamp", "off", {}),
    ("switch.dust_collector", "Dust collector", "off", {}),
    ("switch.air_compressor", "Air compressor", "on", {}),
    ("fan.paint_booth_fan", "Paint booth fan", "off", {}),
    (
        "cover.garage_door",
        "Garage door",
        "closed",
        {"device_class": "garage", "supported_features": 3},
    ),
    (
        "cover.office_blinds",
        "Office blinds",
        "open",
        {"device_class": "blind", "supported_features": 3},
    ),
    (
        "sensor.workshop_temperature",
        "Workshop temperature",
        "21.5",
        {"device_class": "temperature", "unit_of_measurement": "°C"},
    ),
    (
        "sensor.storeroom_humidity",
        "Storeroom humidity",
        "38",
        {"device_class": "humidity", "unit_of_measurement": "%"},
    ),
)
SERVICES = (
    ("light", "turn_on"),
    ("light", "turn_off"),
    ("switch", "turn_on"),
    ("switch", "turn_off"),
    ("fan", "turn_on"),
    ("fan", "turn_off"),
    ("cover", "open_cover"),
    ("cover", "close_cover"),
)
_SWITCHABLE = (
    "kitchen light",
    "workshop ceiling",
    "bench lamp",
    "dust collector",
    "air compressor",
    "paint booth fan",
)
COMMANDS: tuple[str, ...] = (
    *(f"turn on the {n}" for n in _SWITCHABLE),
    *(f"turn off the {n}" for n in _SWITCHABLE),
    *(f"switch on the {n}" for n in _SWITCHABLE),
    *(f"switch off the {n}" for n in _SWITCHABLE),
    *(f"is the {n} on" for n in _SWITCHABLE),
    *(f"is the {n} off" for n in _SWITCHABLE[:4]),
    "open the garage door",
    "close the garage door",
    "is the garage door open",
    "is the garage door closed",
    "open the office blinds",
    "close the office blinds",
    "are the office blinds open",
    "what is the workshop temperature",
    "what is the storeroom humidity",
    "what's the workshop temperature",
    "what's the storeroom humidity",
    "is the kitchen light on?",
    "turn on the kitchen light please",
    "turn on the bench lamp.",
    "turn off the air compressor.",
    "is the dust collector on?",
)
FILLER_DOMAINS = ("light", "switch", "cover", "sensor", "fan")


# -- statistics -----------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "n/a"


def row(
    label: str, values: list[float], unit: str, base: list[float] | None = None, q: int = 95
) -> None:
    p50 = statistics.median(values)
    line = f"  {label:<46}{p50:>10.3f}{pct(values, q):>10.3f} {unit:<3}  (n={len(values)})"
    if base is not None:
        line += f"  p50 ratio {ratio(p50, statistics.median(base))}"
    print(line)


def header(q: int = 95) -> None:
    print(f"  {'':<46}{'p50':>10}{f'p{q}':>10}")


def clocked(samples: list[float], call: Callable[[], Any], scale: float = 1e6) -> Any:
    started = time.perf_counter()
    result = call()
    samples.append((time.perf_counter() - started) * scale)
    return result


async def aclocked(
    samples: list[float], call: Callable[[], Awaitable[Any]], scale: float = 1e3
) -> Any:
    started = time.perf_counter()
    result = await call()
    samples.append((time.perf_counter() - started) * scale)
    return result


# -- the house ------------------------------------------------------------------------------------


def add_home(hass: HomeAssistant) -> None:
    for entity_id, name, state, attributes in HOME:
        hass.states.async_set(entity_id, state, {"friendly_name": name, **attributes})


def add_fillers(hass: HomeAssistant, total: int) -> None:
    """More exposed entities, up to `total` in all (cycling through lights/switches/covers/sensors)."""
    for index in range(total - len(HOME)):
        domain = FILLER_DOMAINS[index % len(FILLER_DOMAINS)]
        number = index // len(FILLER_DOMAINS) + 1
        attributes: dict[str, Any] = {"friendly_name": f"Bay {number} {domain}"}
        state = "off"
        if domain == "cover":
            attributes |= {"device_class": "shutter", "supported_features": 3}
            state = "closed"
        elif domain == "sensor":
            attributes |= {"device_class": "temperature", "unit_of_measurement": "°C"}
            state = f"{18 + index % 7}.5"
        hass.states.async_set(f"{domain}.bay_{number}_{domain}", state, attributes)


def exposed_count(hass: HomeAssistant) -> int:
    return len(build_exposed_context(hass).entity_ids)


async def converse(
    hass: HomeAssistant, text: str, agent_id: str
) -> conversation.ConversationResult:
    return await conversation.async_converse(
        hass, text, None, Context(), language="en", agent_id=agent_id
    )


def jarvis_entity_id(hass: HomeAssistant, subentry_id: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("conversation", DOMAIN, subentry_id)
    assert entity_id is not None
    return entity_id


def routing_agent(hass: HomeAssistant, entity_id: str) -> jarvis_agent.RoutingAgent:
    entity = hass.data["entity_components"]["conversation"].get_entity(entity_id)
    return entity._agent  # noqa: SLF001 - the benchmark measures the agent's own helpers


# -- (a) T0 vs HA's default agent -------------------------------------------------------------------


async def bench_t0(hass: HomeAssistant, jarvis_id: str, rounds: int) -> None:
    for text in COMMANDS:  # warm both: intents, slot lists, LLM API
        await converse(hass, text, DEFAULT_AGENT)
        await converse(hass, text, jarvis_id)
    unmatched = [
        text
        for text in COMMANDS
        if (await converse(hass, text, DEFAULT_AGENT)).response.response_type.value == "error"
    ]
    ha_ms: list[float] = []
    jarvis_ms: list[float] = []
    for turn in range(rounds):
        for index, text in enumerate(COMMANDS):
            pair = [(ha_ms, DEFAULT_AGENT), (jarvis_ms, jarvis_id)]
            if (turn + index) % 2:
                pair.reverse()  # alternate who goes first
            for samples, agent_id in pair:
                await aclocked(samples, functools.partial(converse, hass, text, agent_id))
    print(
        f"(a) T0: {len(COMMANDS)} commands x {rounds} rounds, interleaved; "
        f"{len(COMMANDS) - len(unmatched)}/{len(COMMANDS)} matched by HA's intents"
        + (f" (unmatched: {unmatched})" if unmatched else "")
    )
    header()
    row("HA default agent (conversation.home_assistant)", ha_ms, "ms")
    row("Jarvis T0 (conversation.jarvis)", jarvis_ms, "ms", ha_ms)
    print(
        f"  Jarvis extra per request: p50 {statistics.median(jarvis_ms) - statistics.median(ha_ms):.2f} ms;"
        f" p95 ratio {ratio(pct(jarvis_ms, 95), pct(ha_ms, 95))} (goal: p50 ratio <= 1.2)"
    )


# -- (b) routing decision ---------------------------------------------------------------------------


def sample_answer(count: int = 40) -> Completion:
    tokens = tuple(
        TokenLogprob(f"t{i}", -0.05 - (i % 7) * 0.1, ((f"t{i}", -0.05), ("alt", -3.0)))
        for i in range(count)
    )
    return Completion(
        text="",
        tool_calls=(ToolCall("c1", "HassTurnOn", {"name": "Kitchen light", "domain": ["light"]}),),
        finish_reason="tool_calls",
        logprobs=tokens,
    )


async def bench_decision(
    hass: HomeAssistant, routing: jarvis_agent.RoutingAgent, iterations: int
) -> None:
    llm_context = llm.LLMContext(
        platform=DOMAIN, context=Context(), language="en", assistant="conversation", device_id=None
    )
    api = await llm.async_get_api(hass, llm.LLM_API_ASSIST, llm_context)
    tools = jarvis_agent.to_tool_specs(api)
    answer = sample_answer()
    text = "turn on the kitchen light over the bench"

    def listed() -> list[str]:
        return [
            state.entity_id
            for state in hass.states.async_all()
            if async_should_expose(hass, conversation.DOMAIN, state.entity_id)
        ]

    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(iterations):
        clocked(samples["states"], listed)
        clocked(samples["exposed_build"], functools.partial(build_exposed_context, hass))
        exposed = clocked(samples["exposed"], routing.entry.runtime_data.exposure.get)
        candidates = clocked(samples["candidates"], routing.candidates)
        started = time.perf_counter()
        plan(routing.policy, candidates, assess_freshness(text))
        samples["plan"].append((time.perf_counter() - started) * 1e6)
        started = time.perf_counter()
        assess(answer, tools=tools, exposed=exposed, threshold=0.6, request_text=text)
        samples["assess"].append((time.perf_counter() - started) * 1e6)
        jarvis_agent._SPEC_CACHE.clear()  # noqa: SLF001 - measure the conversion itself
        clocked(samples["tool_specs_build"], functools.partial(jarvis_agent.to_tool_specs, api))
        fresh_api = await llm.async_get_api(hass, llm.LLM_API_ASSIST, llm_context)
        clocked(samples["tool_specs"], functools.partial(jarvis_agent.to_tool_specs, fresh_api))
        samples["decision"].append(
            samples["exposed"][-1] + samples["plan"][-1] + samples["assess"][-1]
        )
    print(
        f"(b) routing decision, {iterations} iterations; {len(tools)} Assist tools, "
        f"{len(answer.logprobs or ())} logprob tokens"
    )
    header(99)
    row("states + exposure check (baseline)", samples["states"], "µs", q=99)
    row("exposed context, built", samples["exposed_build"], "µs", samples["states"], q=99)
    row("exposed context, as the agent gets it", samples["exposed"], "µs", samples["states"], q=99)
    row("assess_freshness + plan", samples["plan"], "µs", q=99)
    row("assess() (tool call + 40 logprobs)", samples["assess"], "µs", q=99)
    row("decision = exposed + plan + assess", samples["decision"], "µs", q=99)
    row("agent.candidates() (pooled providers)", samples["candidates"], "µs", q=99)
    row("to_tool_specs(), schemas converted", samples["tool_specs_build"], "µs", q=99)
    row("to_tool_specs(), new API, cached specs", samples["tool_specs"], "µs", q=99)
    share = statistics.median(samples["exposed"]) / statistics.median(samples["decision"])
    print(f"  exposed_context is {share:.0%} of the decision (p50)")


# -- (c) T1 overhead over the raw provider call ---------------------------------------------------------


def request_from_wire(body: dict[str, Any]) -> CompletionRequest:
    """The CompletionRequest the agent sent, rebuilt from what reached the server."""
    return CompletionRequest(
        messages=tuple(Message(role=m["role"], content=m["content"]) for m in body["messages"]),
        tools=tuple(
            ToolSpec(
                t["function"]["name"], t["function"]["description"], t["function"]["parameters"]
            )
            for t in body.get("tools", ())
        ),
        max_output_tokens=body["max_tokens"],
        want_logprobs=bool(body.get("logprobs")),
    )


@contextlib.contextmanager
def instrumented(spent: dict[str, list[float]]) -> Iterator[None]:
    """Time the agent's per-request steps (ms) by wrapping them; restored afterwards."""
    agent_class = jarvis_agent.RoutingAgent
    chat_log_class = conversation.ChatLog
    originals = {
        (ExposureCache, "get"): ExposureCache.get,
        (jarvis_agent, "to_tool_specs"): jarvis_agent.to_tool_specs,
        (jarvis_agent, "to_messages"): jarvis_agent.to_messages,
        (agent_class, "candidates"): agent_class.candidates,
        (agent_class, "_spend"): agent_class._spend,  # noqa: SLF001
        (agent_class, "_log"): agent_class._log,  # noqa: SLF001
        (agent_class, "_try_local"): agent_class._try_local,  # noqa: SLF001
        (chat_log_class, "async_provide_llm_data"): chat_log_class.async_provide_llm_data,
    }

    def wrap(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(func):

            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await func(*args, **kwargs)
                finally:
                    spent[name].append((time.perf_counter() - started) * 1e3)

            return timed_async

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                spent[name].append((time.perf_counter() - started) * 1e3)

        return timed

    for (owner, name), func in originals.items():
        setattr(owner, name, wrap(name, func))
    try:
        yield
    finally:
        for (owner, name), func in originals.items():
            setattr(owner, name, func)


async def bench_t1(
    hass: HomeAssistant, local: OpenAIServer, entry: MockConfigEntry, iterations: int
) -> None:
    full_id = jarvis_entity_id(hass, FULL_AGENT)
    models_id = jarvis_entity_id(hass, MODELS_AGENT)
    for _ in range(5):
        for agent_id in (full_id, models_id):
            result = await converse(hass, T1_QUESTION, agent_id)
            speech = result.response.speech["plain"]["speech"]
            assert speech == T1_ANSWER, speech
    body = local.requests_to(CHAT_PATH)[-1].json
    request = request_from_wire(body)
    direct = build_provider(hass, entry.subentries[T1_SUBENTRY].data)
    baseline = build_provider(hass, entry.subentries[T1_SUBENTRY].data)
    if hass.states.get(BASELINE_AGENT) is None:
        await hass.data["entity_components"]["conversation"].async_add_entities(
            [HaStyleAgent(baseline)]
        )
    for _ in range(5):
        await direct.complete(request)
        await converse(hass, T1_QUESTION, BASELINE_AGENT)
    raw_ms: list[float] = []
    ha_ms: list[float] = []
    full_ms: list[float] = []
    models_ms: list[float] = []
    for _ in range(iterations):
        await aclocked(raw_ms, functools.partial(direct.complete, request))
        await aclocked(ha_ms, functools.partial(converse, hass, T1_QUESTION, BASELINE_AGENT))
        await aclocked(full_ms, functools.partial(converse, hass, T1_QUESTION, full_id))
        await aclocked(models_ms, functools.partial(converse, hass, T1_QUESTION, models_id))
    prompt_chars = sum(len(m["content"]) for m in body["messages"])
    print(
        f"(c) T1 through async_converse vs the provider's complete() directly, {iterations} each;"
        f" request: {prompt_chars:,} prompt chars, {len(body['tools'])} tools,"
        f" {len(local.requests[-1].body):,} bytes on the wire"
    )
    header()
    row("provider.complete() directly (baseline)", raw_ms, "ms")
    row("HA-style LLM agent via async_converse", ha_ms, "ms", raw_ms)
    row("Jarvis T0 miss + T1 accepted (t0,t1,t2)", full_ms, "ms", raw_ms)
    row("Jarvis T1 accepted, no T0 (t1,t2)", models_ms, "ms", raw_ms)
    base, ha_base = statistics.median(raw_ms), statistics.median(ha_ms)
    full, models = statistics.median(full_ms), statistics.median(models_ms)
    print(
        f"  agent overhead p50 over the raw call: {full - base:.2f} ms with T0,"
        f" {models - base:.2f} ms without (goal <= 5 ms)"
    )
    print(
        f"  over an HA-style LLM agent: {full - ha_base:.2f} ms with T0,"
        f" {models - ha_base:.2f} ms without (that agent's own overhead: {ha_base - base:.2f} ms)"
    )
    spent: dict[str, list[float]] = defaultdict(list)
    with instrumented(spent):
        for _ in range(iterations):
            await converse(hass, T1_QUESTION, full_id)
    print("  where the agent's time goes (instrumented pass, t0,t1,t2 agent, ms per request):")
    for name in (
        "async_provide_llm_data",
        "_try_local",
        "to_tool_specs",
        "to_messages",
        "candidates",
        "_spend",
        "get",
        "_log",
    ):
        values = spent.get(name)
        if values:
            label = {
                "async_provide_llm_data": "ChatLog.async_provide_llm_data (LLM API, prompt)",
                "_try_local": "T0 miss (sentence triggers + intents)",
                "_spend": "_spend (2 ledger queries, executor)",
                "_log": "_log (ledger record queued, event, trace)",
                "get": "exposed context (cached)",
            }.get(name, name)
            row(label, values, "ms")
    await direct.close()
    await baseline.close()


class HaStyleAgent(conversation.ConversationEntity):
    """What HA's own LLM agents (ollama, openai_conversation) do per request, on our provider.

    HA's LLM API prompt (every exposed entity), messages from the ChatLog, tool schemas
    converted, one model call, the answer added to the ChatLog: the baseline for Jarvis's
    routing overhead, reached through async_converse like Jarvis.
    """

    _attr_name = "Baseline"
    _attr_unique_id = "baseline"

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    @property
    def supported_languages(self) -> str:
        return "*"

    async def _async_handle_message(
        self, user_input: conversation.ConversationInput, chat_log: conversation.ChatLog
    ) -> conversation.ConversationResult:
        await chat_log.async_provide_llm_data(
            user_input.as_llm_context(DOMAIN), llm.LLM_API_ASSIST, None, None
        )
        api = chat_log.llm_api
        assert api is not None
        tools = tuple(
            ToolSpec(
                t.name,
                t.description or "",
                convert(t.parameters, custom_serializer=api.custom_serializer),
            )
            for t in api.tools
        )
        completion = await self.provider.complete(
            CompletionRequest(
                messages=jarvis_agent.to_messages(chat_log), tools=tools, want_logprobs=True
            )
        )
        chat_log.async_add_assistant_content_without_tools(
            conversation.AssistantContent(agent_id=self.entity_id or "", content=completion.text)
        )
        return conversation.async_get_result_from_chat_log(user_input, chat_log)


# -- (c) continued: the budget's spend query vs the ledger's size ------------------------------------


def spend_like_the_agent(ledger: Ledger, day: datetime, month: datetime) -> None:
    ledger.spend(day, agent_id=SPEND_AGENT)
    ledger.spend(month, agent_id=SPEND_AGENT)


def indexed_sum(ledger: Ledger, day: datetime, month: datetime) -> None:
    """What a spend query on the indexed per-record cost column costs (the baseline)."""
    conn = ledger._connection()  # noqa: SLF001 - the baseline reads the same file
    for since in (day, month):
        conn.execute(
            "SELECT SUM(cost_usd) FROM decisions WHERE agent_id = ? AND created_at >= ?",
            (SPEND_AGENT, int(since.timestamp() * 1e6)),
        ).fetchone()


def bench_spend(
    workdir: Path, sizes: tuple[int, ...] = (300, 3_000, 15_000), repeats: int = 15
) -> None:
    """RoutingAgent._spend runs Ledger.spend twice per model request (today, this month)."""
    ledger = Ledger(workdir / "spend-bench.db")
    attempts = [
        {
            "tier": "t0",
            "name": "conversation.home_assistant",
            "outcome": "no_match",
            "latency_ms": 1.0,
        },
        {
            "tier": "t1",
            "name": "llama",
            "outcome": "low_confidence",
            "cost_usd": 0.0,
            "usage": {"input_tokens": 400},
        },
        {
            "tier": "t2",
            "name": "gpt",
            "outcome": "accepted",
            "cost_usd": 0.00104,
            "usage": {"input_tokens": 1000},
        },
    ]
    now = dt_util.utcnow()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    print(
        f"(c2) Ledger.spend (RoutingAgent._spend: today + this month) vs an indexed SUM, {repeats} each"
    )
    print(f"  {'records':>8}{'_spend p50':>13}{'SUM p50':>10}{'ratio':>8}")
    stored = 0
    for size in sizes:
        for index in range(stored, size):
            ledger.append(
                DecisionRecord(
                    agent_id=SPEND_AGENT,
                    text=f"request {index}",
                    tier="t2",
                    provider="gpt",
                    attempts=attempts,
                    cost_usd=0.00104,
                    created_at=now - timedelta(milliseconds=size - index),
                )
            )
        stored = size
        spend_ms: list[float] = []
        sum_ms: list[float] = []
        for _ in range(repeats):
            clocked(spend_ms, functools.partial(spend_like_the_agent, ledger, day, month), 1e3)
            clocked(sum_ms, functools.partial(indexed_sum, ledger, day, month), 1e3)
        p50, base = statistics.median(spend_ms), statistics.median(sum_ms)
        print(f"  {size:>8,}{p50:>10.2f} ms{base:>7.2f} ms{ratio(p50, base):>8}")
    ledger.close()


# -- setup ----------------------------------------------------------------------------------------------


async def setup(
    hass: HomeAssistant, worker: Worker, local: OpenAIServer, cloud: OpenAIServer
) -> MockConfigEntry:
    frame.async_setup(hass)
    hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # let HA load custom_components/jarvis
    for component in ("homeassistant", "conversation", "intent"):
        assert await async_setup_component(hass, component, {})
    for domain, service in SERVICES:
        async_mock_service(hass, domain, service)
    add_home(hass)
    t1 = provider_subentry("llama", "openai_compatible", local.base_url)
    cloud_sub = provider_subentry("gpt", "openai", cloud.base_url, price_in=1.0, price_out=4.0)
    full = agent_subentry()
    models = agent_subentry(**{CONF_TIERS: ["t1", "t2"]})
    models["title"] = "Jarvis models"
    for sub, subentry_id in (
        (t1, T1_SUBENTRY),
        (cloud_sub, CLOUD_SUBENTRY),
        (full, FULL_AGENT),
        (models, MODELS_AGENT),
    ):
        sub["subentry_id"] = subentry_id
    return await async_setup_jarvis(hass, worker, [t1, cloud_sub, full, models])


async def run(args: argparse.Namespace, workdir: Path, worker: Worker) -> None:
    local = await OpenAIServer().start()
    cloud = await OpenAIServer().start()
    local.default(CHAT_PATH, Reply(json=confident(T1_ANSWER)))
    try:
        async with async_test_home_assistant(config_dir=str(workdir / "config")) as hass:
            entry = await setup(hass, worker, local, cloud)
            jarvis_id = jarvis_entity_id(hass, FULL_AGENT)
            routing = routing_agent(hass, jarvis_id)
            for size in (len(HOME), 1000):
                if size > len(HOME):
                    add_fillers(hass, size)
                    await hass.async_block_till_done()
                print(f"\n=== {exposed_count(hass)} exposed entities ===")
                await bench_t0(hass, jarvis_id, args.rounds)
                await bench_decision(
                    hass, routing, args.decisions if size <= 100 else max(50, args.decisions // 4)
                )
                await bench_t1(hass, local, entry, args.t1)
                if cloud.requests:
                    print(f"  note: {len(cloud.requests)} requests reached the (unscripted) cloud")
            await hass.async_add_executor_job(bench_spend, workdir)
            await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
            await hass.async_stop(force=True)
    finally:
        await local.stop()
        await cloud.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="(a) rounds over the 50 commands")
    parser.add_argument("--decisions", type=int, default=400, help="(b) iterations at 10 entities")
    parser.add_argument("--t1", type=int, default=60, help="(c) requests per variant")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="jarvis-overhead-") as tmp:
        workdir = Path(tmp)
        (workdir / "config").mkdir()
        with Mosquitto(workdir / "mosquitto") as broker:
            worker = Worker(workdir / "worker", mqtt_port=broker.port).start()
            try:
                print(
                    f"Python {sys.version.split()[0]}, HA in-process (phcc test harness), "
                    f"add-on worker without model, loopback OpenAI-compatible server"
                )
                asyncio.run(run(args, workdir, worker))
            finally:
                worker.stop()
    print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
