"""Router decision overhead: plan(), assess() and a whole route() over instantaneous providers.

Each measurement runs next to a baseline doing the least a router must do anyway, and is printed
as p50/p99 in microseconds with the p50 ratio to its baseline:
- plan() vs sorting the candidates by tier;
- assess() on a tool-call answer with 40 logprob tokens vs json.loads of its raw arguments;
- route() (a local tool call rejected for naming an unknown entity, the cloud's accepted) vs
  awaiting the two providers' complete() directly;
- ExposedContext construction (done per request by the HA glue) vs building plain sets.
Sizes: 10 and 1,000 exposed entities.

    .venv/bin/python benchmarks/router_decision.py [--iterations 3000]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import json
import math
from pathlib import Path
import statistics
import sys
import time

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from custom_components.jarvis.router.budget import Budget, BudgetCheck  # noqa: E402
from custom_components.jarvis.router.cascade import route  # noqa: E402
from custom_components.jarvis.router.confidence import ExposedContext, assess  # noqa: E402
from custom_components.jarvis.router.freshness import FreshnessReport  # noqa: E402
from custom_components.jarvis.router.policy import Candidate, RoutingPolicy, plan  # noqa: E402
from custom_components.jarvis.router.types import (  # noqa: E402
    Completion,
    CompletionRequest,
    Message,
    Price,
    ProviderKind,
    TextDelta,
    Tier,
    TokenLogprob,
    ToolCall,
    ToolSpec,
    Usage,
)

TARGET = {
    "name": {"type": "string"},
    "area": {"type": "string"},
    "floor": {"type": "string"},
    "domain": {"type": "array", "items": {"type": "string"}},
    "device_class": {
        "type": "array",
        "items": {"type": "string", "enum": ["door", "garage", "gate", "window"]},
    },
}
TOOLS = (
    ToolSpec("HassTurnOn", "Turns on", {"type": "object", "properties": TARGET, "required": []}),
    ToolSpec("HassTurnOff", "Turns off", {"type": "object", "properties": TARGET, "required": []}),
    ToolSpec(
        "HassLightSet",
        "Sets a light",
        {
            "type": "object",
            "properties": {
                **TARGET,
                "brightness": {"type": "integer", "minimum": 0, "maximum": 100},
            },
        },
    ),
    ToolSpec("GetLiveContext", "States", {"type": "object", "properties": {}}),
)
DOMAINS = ("light", "switch", "sensor", "cover", "climate", "fan", "lock", "media_player")


def entities(count: int) -> tuple[list[str], list[str], list[str]]:
    """Entity ids, friendly names, areas for a home of this size."""
    ids = [f"{DOMAINS[i % len(DOMAINS)]}.device_{i:04d}" for i in range(count)]
    names = [f"Device {i:04d}" for i in range(count)]
    areas = [f"Area {i:02d}" for i in range(max(1, count // 20))]
    return ids, names, areas


class InstantProvider:
    """Answers at once with a fixed completion."""

    def __init__(self, kind: ProviderKind, completion: Completion) -> None:
        self.kind = kind
        self.model = kind.value
        self.completion = completion

    async def complete(self, request: CompletionRequest) -> Completion:
        return self.completion

    async def stream(self, request: CompletionRequest) -> AsyncIterator[TextDelta | Completion]:
        yield self.completion

    async def close(self) -> None:
        """Nothing to release."""


def logprobs(count: int) -> tuple[TokenLogprob, ...]:
    return tuple(
        TokenLogprob(
            f"t{i}",
            math.log(0.9 - (i % 5) * 0.05),
            ((f"t{i}", math.log(0.9)), ("alt", math.log(0.04))),
        )
        for i in range(count)
    )


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return statistics.median(ordered) / 1000, p99 / 1000


def measure(func: Callable[[], object], iterations: int) -> list[int]:
    for _ in range(min(200, iterations)):
        func()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        func()
        samples.append(time.perf_counter_ns() - start)
    return samples


async def measure_async(func: Callable[[], Awaitable[object]], iterations: int) -> list[int]:
    for _ in range(min(200, iterations)):
        await func()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        await func()
        samples.append(time.perf_counter_ns() - start)
    return samples


def line(label: str, samples: list[int], baseline: list[int]) -> None:
    p50, p99 = percentiles(samples)
    b50, b99 = percentiles(baseline)
    print(f"  {label:<34}{p50:>10.1f}{p99:>10.1f}{b50:>12.1f}{b99:>10.1f}{p50 / b50:>9.1f}x")


def bench(size: int, iterations: int) -> None:
    ids, names, areas = entities(size)
    exposed = ExposedContext(
        entity_ids=frozenset(ids), names=frozenset(names), areas=frozenset(areas)
    )
    target = names[size // 2]
    good_args = {"name": target, "area": areas[0], "domain": ["light"]}
    good = Completion(
        text="",
        tool_calls=(ToolCall("c1", "HassTurnOn", good_args, raw_arguments=json.dumps(good_args)),),
        finish_reason="tool_calls",
        logprobs=logprobs(40),
        usage=Usage(input_tokens=1_500, output_tokens=30),
    )
    nonsense = Completion(
        text="",
        tool_calls=(ToolCall("c2", "HassTurnOn", {"name": "namen", "area": "aarea"}),),
        finish_reason="tool_calls",
        logprobs=logprobs(12),
    )
    local = Candidate(
        Tier.LOCAL_MODEL,
        "ollama",
        InstantProvider(ProviderKind.OLLAMA, nonsense),
        Price(),
        local=True,
    )
    cloud = Candidate(
        Tier.CLOUD,
        "openai",
        InstantProvider(ProviderKind.OPENAI, good),
        Price(0.75, 4.5),
        local=False,
    )
    fresh = Candidate(
        Tier.FRESH,
        "perplexity",
        InstantProvider(ProviderKind.PERPLEXITY, good),
        Price(1, 1, per_request=0.005),
        local=False,
    )
    candidates = [cloud, local, fresh, cloud, local]
    policy = RoutingPolicy()
    stale_ok = FreshnessReport(needs_fresh=False, score=0.0, cues=())
    request = CompletionRequest(
        messages=(Message("system", "You are Jarvis. " * 50), Message("user", f"Turn on {target}")),
        tools=TOOLS,
    )
    budget = Budget(daily_usd=5.0, monthly_usd=50.0)

    def budget_check(candidate: Candidate, estimate: float) -> BudgetCheck:
        return budget.check(0.5, 10.0, estimate)

    tier_rank = {Tier.LOCAL_MODEL: 0, Tier.CLOUD: 1}
    print(f"\n{size} exposed entities ({iterations} iterations)")
    print(f"  {'':<34}{'p50 µs':>10}{'p99 µs':>10}{'base p50':>12}{'base p99':>10}{'ratio':>10}")
    line(
        "plan() vs sort by tier",
        measure(lambda: plan(policy, candidates, stale_ok), iterations),
        measure(
            lambda: sorted(
                (c for c in candidates if c.tier in tier_rank), key=lambda c: tier_rank[c.tier]
            ),
            iterations,
        ),
    )
    line(
        "assess() vs json.loads(arguments)",
        measure(
            lambda: assess(
                good, tools=TOOLS, exposed=exposed, threshold=0.6, request_text="Turn on"
            ),
            iterations,
        ),
        measure(lambda: json.loads(good.tool_calls[0].raw_arguments or "{}"), iterations),
    )
    line(
        "ExposedContext() vs plain sets",
        measure(
            lambda: ExposedContext(
                entity_ids=frozenset(ids), names=frozenset(names), areas=frozenset(areas)
            ),
            max(200, iterations // 10),
        ),
        measure(
            lambda: (frozenset(ids), frozenset(names), frozenset(areas)), max(200, iterations // 10)
        ),
    )

    async def routed() -> None:
        result = await route(
            request,
            [local, cloud],
            policy=policy,
            exposed=exposed,
            tools=TOOLS,
            budget_check=budget_check,
        )
        assert result.candidate is cloud

    async def direct() -> None:
        await local.provider.complete(request)
        await cloud.provider.complete(request)

    async def both() -> tuple[list[int], list[int]]:
        return await measure_async(routed, iterations), await measure_async(direct, iterations)

    route_samples, direct_samples = asyncio.run(both())
    line("route() 2 tiers vs 2 direct calls", route_samples, direct_samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3000)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}; times in microseconds; ratio = p50 / baseline p50")
    for size in (10, 1_000):
        bench(size, args.iterations)


if __name__ == "__main__":
    main()
