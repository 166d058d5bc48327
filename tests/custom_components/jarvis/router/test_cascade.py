"""The cascade over scripted providers.

The providers here are tiny in-test classes implementing the Provider protocol: route() is pure
logic over that interface. The real SDK providers are tested against their wire formats elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
import json
import math
from typing import Any

import pytest

from custom_components.jarvis.router.budget import Budget, BudgetCheck
from custom_components.jarvis.router.cascade import Candidate, RouteResult, route
from custom_components.jarvis.router.confidence import ExposedContext
from custom_components.jarvis.router.policy import RoutingPolicy
from custom_components.jarvis.router.pricing import estimate_cost_usd, request_prompt_chars
from custom_components.jarvis.router.providers.base import (
    Provider,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderUnavailableError,
)
from custom_components.jarvis.router.types import (
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

TURN_ON = ToolSpec(
    "HassTurnOn",
    "Turns on a device",
    {"type": "object", "properties": {"name": {"type": "string"}, "area": {"type": "string"}}},
)
TOOLS = (TURN_ON,)
EXPOSED = ExposedContext(
    entity_ids=frozenset({"light.bench_lamp"}),
    names=frozenset({"Bench Lamp"}),
    areas=frozenset({"Workshop"}),
)
REQUEST = CompletionRequest(
    messages=(Message(role="user", content="Turn on the bench lamp"),), tools=TOOLS
)
QUESTION = CompletionRequest(
    messages=(Message(role="user", content="Why do stepper motors skip?"),)
)
CLOUD_PRICE = Price(input_per_mtok=1.0, output_per_mtok=5.0)

GOOD_CALL = Completion(
    text="",
    tool_calls=(ToolCall("c1", "HassTurnOn", {"name": "Bench Lamp"}),),
    finish_reason="tool_calls",
    usage=Usage(input_tokens=1_000, output_tokens=20),
    model="served-model",
)
NONSENSE_CALL = Completion(
    text="",
    tool_calls=(ToolCall("c2", "HassTurnOn", {"name": "namen", "area": "aarea"}),),
    finish_reason="tool_calls",
)
UNSURE = Completion(text="I'm not sure what you mean.", finish_reason="stop")
ANSWER = Completion(
    text="Missed steps come from too little current or too much speed.",
    finish_reason="stop",
    usage=Usage(input_tokens=2_000, output_tokens=100),
)
EMPTY = Completion(text="", finish_reason="stop")


class FakeClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class ScriptedProvider:
    """Answers from a script: each call takes the next step (the last one repeats).

    A step is a Completion to return or an exception to raise. takes_s moves a FakeClock on each
    call; hang makes the call never finish. stream() yields the answer text in three deltas, then
    the Completion (or raises fail_mid_stream after the first delta, or omits the Completion).
    """

    def __init__(
        self,
        *steps: Completion | BaseException,
        kind: ProviderKind = ProviderKind.OLLAMA,
        model: str = "model",
        clock: FakeClock | None = None,
        takes_s: float = 0.0,
        hang: bool = False,
        fail_mid_stream: BaseException | None = None,
        omit_final: bool = False,
    ) -> None:
        self.kind = kind
        self.model = model
        self.steps = list(steps)
        self.clock = clock
        self.takes_s = takes_s
        self.hang = hang
        self.fail_mid_stream = fail_mid_stream
        self.omit_final = omit_final
        self.calls: list[tuple[str, CompletionRequest]] = []
        self.closed_streams = 0

    async def _answer(self) -> Completion:
        if self.hang:
            await asyncio.Event().wait()
        if self.clock is not None:
            self.clock.now += self.takes_s
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, BaseException):
            raise step
        return step

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls.append(("complete", request))
        return await self._answer()

    async def stream(self, request: CompletionRequest) -> AsyncIterator[TextDelta | Completion]:
        self.calls.append(("stream", request))
        try:
            completion = await self._answer()
            text = completion.text
            third = max(1, len(text) // 3)
            for index, start in enumerate(range(0, len(text), third)):
                if index == 1 and self.fail_mid_stream is not None:
                    raise self.fail_mid_stream
                yield TextDelta(text[start : start + third])
            if not self.omit_final:
                yield completion
        finally:
            self.closed_streams += 1

    async def close(self) -> None:
        """Nothing to release."""


def local(*steps: Completion | BaseException, name: str = "ollama", **kwargs: Any) -> Candidate:
    return Candidate(
        Tier.LOCAL_MODEL, name, ScriptedProvider(*steps, **kwargs), Price(), local=True
    )


def cloud(*steps: Completion | BaseException, name: str = "openai", **kwargs: Any) -> Candidate:
    provider = ScriptedProvider(*steps, kind=ProviderKind.OPENAI, **kwargs)
    return Candidate(Tier.CLOUD, name, provider, CLOUD_PRICE, local=False)


def provider_of(candidate: Candidate) -> ScriptedProvider:
    assert isinstance(candidate.provider, ScriptedProvider)
    return candidate.provider


def allow_all(candidate: Candidate, estimate: float) -> BudgetCheck:
    return BudgetCheck(True, "no budget configured", None)


async def run(
    plan: list[Candidate],
    request: CompletionRequest = REQUEST,
    policy: RoutingPolicy | None = None,
    **kwargs: Any,
) -> RouteResult:
    kwargs.setdefault("budget_check", allow_all)
    return await route(
        request, plan, policy=policy or RoutingPolicy(), exposed=EXPOSED, tools=TOOLS, **kwargs
    )


def outcomes(result: RouteResult) -> list[tuple[str, str]]:
    return [(a.name, a.outcome) for a in result.attempts]


def test_scripted_provider_satisfies_the_protocol() -> None:
    assert isinstance(ScriptedProvider(ANSWER), Provider)


# -- acceptance and escalation ----------------------------------------------------------------------


async def test_confident_local_answer_is_accepted_and_the_cloud_never_asked() -> None:
    t1, t2 = local(GOOD_CALL), cloud(ANSWER)
    result = await run([t1, t2])
    assert result.accepted is GOOD_CALL
    assert result.candidate is t1
    assert outcomes(result) == [("ollama", "accepted")]
    assert result.reason == "t1 ollama accepted: confidence 1.00 ≥ 0.60"
    assert provider_of(t2).calls == []
    assert result.escalations == 0
    assert result.total_cost_usd == 0.0
    assert result.attempts[0].model == "served-model"  # as the provider reported it


async def test_invalid_local_tool_call_escalates_and_is_never_returned() -> None:
    t1, t2 = local(NONSENSE_CALL), cloud(GOOD_CALL)
    result = await run([t1, t2])
    assert outcomes(result) == [("ollama", "invalid_tool_call"), ("openai", "accepted")]
    assert result.accepted is GOOD_CALL
    assert result.candidate is t2
    assert result.escalations == 1
    assert result.reason == (
        "t1 ollama rejected (invalid tool call: HassTurnOn names unknown entity 'namen'); "
        "t2 openai accepted: confidence 1.00 ≥ 0.60"
    )
    rejected = result.attempts[0]
    assert rejected.tool_calls == NONSENSE_CALL.tool_calls  # recorded only
    assert rejected.confidence is not None
    assert rejected.confidence.hard_fail is not None


async def test_low_confidence_escalates() -> None:
    t1, t2 = local(UNSURE), cloud(ANSWER)
    result = await run([t1, t2], request=QUESTION)
    assert outcomes(result) == [("ollama", "low_confidence"), ("openai", "accepted")]
    assert "t1 ollama rejected (confidence 0.00 < 0.60)" in result.reason
    assert result.escalations == 1


def _with_logprobs(completion: Completion, p: float, runner_up: float) -> Completion:
    """The answer with every token at probability p, the runner-up at runner_up."""
    tokens = tuple(
        TokenLogprob(f"t{i}", math.log(p), ((f"t{i}", math.log(p)), ("alt", math.log(runner_up))))
        for i in range(12)
    )
    return replace(completion, logprobs=tokens)


async def test_cloud_models_escalate_to_the_next_cloud_model_on_confidence() -> None:
    # "t2: cloud in the configured order": a cheap cloud model whose answer is weak (its
    # logprobs; OpenAI's non-reasoning models return them) goes on to the strong one, which
    # is asked only then; the cheap one's confident answer is kept.
    weak = _with_logprobs(ANSWER, 0.3, 0.25)
    cheap, strong = cloud(weak, name="gpt-4.1-nano"), cloud(ANSWER, name="gpt-5.4-mini")
    result = await run([local(UNSURE), cheap, strong], request=QUESTION)
    assert outcomes(result) == [
        ("ollama", "low_confidence"),
        ("gpt-4.1-nano", "low_confidence"),
        ("gpt-5.4-mini", "accepted"),
    ]
    assert result.candidate is strong
    assert result.escalations == 2
    assert "t2 gpt-4.1-nano rejected (confidence" in result.reason
    assert result.total_cost_usd == pytest.approx(2 * (2_000 * 1.0 + 100 * 5.0) / 1e6)

    sure = _with_logprobs(ANSWER, 0.95, 0.01)
    cheap, strong = cloud(sure, name="gpt-4.1-nano"), cloud(ANSWER, name="gpt-5.4-mini")
    result = await run([local(UNSURE), cheap, strong], request=QUESTION)
    assert result.candidate is cheap
    assert provider_of(strong).calls == []


async def test_a_cloud_answer_without_logprobs_is_judged_on_structure() -> None:
    # Anthropic returns no logprobs: its answer stands on tool validity and language, so a
    # refusal still goes on to the next cloud model and a valid tool call does not.
    cheap, strong = cloud(UNSURE, name="claude-haiku"), cloud(ANSWER, name="claude-sonnet")
    result = await run([cheap, strong], request=QUESTION)
    assert outcomes(result) == [("claude-haiku", "low_confidence"), ("claude-sonnet", "accepted")]
    cheap, strong = cloud(GOOD_CALL, name="claude-haiku"), cloud(ANSWER, name="claude-sonnet")
    result = await run([cheap, strong])
    assert outcomes(result) == [("claude-haiku", "accepted")]


async def test_action_request_answered_with_chatter_escalates() -> None:
    chatter = Completion(text="This is a smart home assistant.", finish_reason="stop")
    result = await run([local(chatter), cloud(GOOD_CALL)])
    assert outcomes(result) == [("ollama", "low_confidence"), ("openai", "accepted")]


async def test_the_last_candidate_is_accepted_despite_low_confidence() -> None:
    result = await run([local(UNSURE), cloud(UNSURE)], request=QUESTION)
    assert outcomes(result) == [("ollama", "low_confidence"), ("openai", "accepted")]
    assert result.accepted is UNSURE
    assert result.reason.endswith("t2 openai accepted: last candidate (confidence 0.00)")
    assert result.attempts[1].final
    assert not result.attempts[0].final


async def test_the_last_candidate_is_rejected_on_a_hard_fail() -> None:
    result = await run([local(NONSENSE_CALL), cloud(NONSENSE_CALL)])
    assert outcomes(result) == [("ollama", "invalid_tool_call"), ("openai", "invalid_tool_call")]
    assert result.accepted is None
    assert result.candidate is None
    assert result.reason.endswith("no acceptable answer")
    empty = await run([cloud(EMPTY)], request=QUESTION)
    assert outcomes(empty) == [("openai", "low_confidence")]
    assert empty.accepted is None


async def test_escalation_limit_makes_the_candidate_final() -> None:
    t1, t2, t3 = local(UNSURE), cloud(UNSURE), cloud(ANSWER, name="anthropic")
    result = await run([t1, t2, t3], request=QUESTION, policy=RoutingPolicy(max_escalations=1))
    assert outcomes(result) == [("ollama", "low_confidence"), ("openai", "accepted")]
    assert "t2 openai accepted: escalation limit reached (confidence 0.00)" in result.reason
    assert provider_of(t3).calls == []
    assert result.escalations == 1


async def test_hard_fail_at_the_escalation_limit_skips_the_rest_and_falls_back() -> None:
    t1, t2, t3 = local(UNSURE), cloud(EMPTY), cloud(ANSWER, name="anthropic")
    result = await run([t1, t2, t3], request=QUESTION, policy=RoutingPolicy(max_escalations=1))
    assert outcomes(result) == [
        ("ollama", "low_confidence"),
        ("openai", "low_confidence"),
        ("anthropic", "skipped_max_escalations"),
    ]
    assert provider_of(t3).calls == []
    assert result.fallback
    assert result.accepted is UNSURE
    assert result.candidate is t1
    assert result.accepted_attempt is result.attempts[0]
    assert "escalation limit 1 reached" in result.reason


async def test_no_escalations_allowed_accepts_the_first_answer() -> None:
    result = await run(
        [local(UNSURE), cloud(ANSWER)], request=QUESTION, policy=RoutingPolicy(max_escalations=0)
    )
    assert outcomes(result) == [("ollama", "accepted")]
    assert result.accepted is UNSURE


async def test_threshold_comes_from_the_policy() -> None:
    hedged = Completion(
        text="It is probably the belt tension.", finish_reason="stop"
    )  # scores 0.75
    strict = await run(
        [local(hedged), cloud(ANSWER)],
        request=QUESTION,
        policy=RoutingPolicy(confidence_threshold=0.8),
    )
    lenient = await run(
        [local(hedged), cloud(ANSWER)],
        request=QUESTION,
        policy=RoutingPolicy(confidence_threshold=0.7),
    )
    assert outcomes(strict)[0] == ("ollama", "low_confidence")
    assert outcomes(lenient) == [("ollama", "accepted")]


async def test_constrained_requests_ignore_logprobs() -> None:
    low = tuple(TokenLogprob(token=c, logprob=-6.0) for c in "abc")
    structured = Completion(text='{"parts": 3}', finish_reason="stop", logprobs=low)
    request = CompletionRequest(messages=QUESTION.messages, json_schema={"type": "object"})
    result = await run([local(structured), cloud(ANSWER)], request=request)
    assert outcomes(result) == [("ollama", "accepted")]
    unconstrained = await run([local(structured), cloud(ANSWER)], request=QUESTION)
    assert outcomes(unconstrained)[0] == ("ollama", "low_confidence")


# -- failover ------------------------------------------------------------------------------------


async def test_provider_error_fails_over_without_counting_as_an_escalation() -> None:
    result = await run([local(ProviderUnavailableError("connection refused")), cloud(GOOD_CALL)])
    assert outcomes(result) == [("ollama", "error"), ("openai", "accepted")]
    error = result.attempts[0]
    assert error.error_type == "ProviderUnavailableError"
    assert error.error_message == "connection refused"
    assert result.escalations == 0
    assert result.reason.startswith(
        "t1 ollama failed (ProviderUnavailableError: connection refused); "
    )


async def test_failover_within_a_tier_keeps_the_configured_order() -> None:
    first = cloud(ProviderRateLimitError("429"), name="openai")
    second = cloud(GOOD_CALL, name="anthropic")
    result = await run([first, second])
    assert outcomes(result) == [("openai", "error"), ("anthropic", "accepted")]
    assert result.candidate is second


async def test_an_unexpected_provider_bug_fails_over_too() -> None:
    result = await run([local(KeyError("choices")), cloud(GOOD_CALL)])
    assert outcomes(result) == [("ollama", "error"), ("openai", "accepted")]
    assert result.attempts[0].error_type == "KeyError"


async def test_cancellation_is_not_swallowed() -> None:
    with pytest.raises(asyncio.CancelledError):
        await run([local(asyncio.CancelledError()), cloud(GOOD_CALL)])


async def test_all_failing_gives_no_answer() -> None:
    result = await run(
        [local(ProviderUnavailableError("down")), cloud(ProviderUnavailableError("down"))]
    )
    assert result.accepted is None
    assert not result.fallback
    assert not result.budget_blocked
    assert result.reason.endswith("no acceptable answer")


async def test_errors_after_a_soft_rejection_fall_back_to_the_best_answer() -> None:
    hedged = Completion(text="Maybe the belt, possibly the current.", finish_reason="stop")  # 0.5
    result = await run([local(hedged), cloud(ProviderUnavailableError("503"))], request=QUESTION)
    assert outcomes(result) == [("ollama", "low_confidence"), ("openai", "error")]
    assert result.fallback
    assert result.accepted is hedged
    assert result.confidence is not None
    assert result.confidence.score == 0.5
    assert "using t1 ollama's answer (confidence 0.50): nothing better came" in result.reason
    no_fallback = await run(
        [local(hedged), cloud(ProviderUnavailableError("503"))],
        request=QUESTION,
        policy=RoutingPolicy(fallback_to_best_rejected=False),
    )
    assert no_fallback.accepted is None


async def test_empty_plan() -> None:
    result = await run([])
    assert result.accepted is None
    assert result.attempts == ()
    assert result.reason == "no model candidate is configured for this request"


# -- budget --------------------------------------------------------------------------------------


async def test_over_budget_cloud_makes_the_local_model_final() -> None:
    """The cloud is blocked before anything runs: the local answer is the last one possible."""
    hedged = Completion(text="Probably the belt tension.", finish_reason="stop")  # 0.75
    budget = Budget(daily_usd=1.0)

    def over_budget(candidate: Candidate, estimate: float) -> BudgetCheck:
        return budget.check(spent_today=1.0, spent_month=1.0, estimate=estimate)

    deltas: list[str] = []

    async def on_delta(text: str) -> None:
        deltas.append(text)

    t1, t2 = local(hedged), cloud(ANSWER)
    result = await run(
        [t1, t2],
        request=QUESTION,
        policy=RoutingPolicy(confidence_threshold=0.9),
        budget_check=over_budget,
        on_delta=on_delta,
    )
    assert outcomes(result) == [("ollama", "accepted"), ("openai", "skipped_budget")]
    assert result.budget_blocked
    assert provider_of(t2).calls == []
    assert not result.fallback
    assert result.accepted is hedged
    assert result.streamed  # final, so it streamed live
    assert "".join(deltas) == hedged.text
    assert result.reason.startswith(
        "t1 ollama accepted: later candidates over budget (confidence 0.75); "
    )
    skipped = result.attempts[1]
    assert skipped.estimate_usd == pytest.approx(
        estimate_cost_usd(request_prompt_chars(QUESTION), QUESTION.max_output_tokens, CLOUD_PRICE)
    )
    assert "exceeds the daily budget" in skipped.detail
    assert "t2 openai skipped (budget: estimate" in result.reason


async def test_budget_running_out_mid_route_falls_back_to_the_best_answer() -> None:
    """The second cloud fits alone but not after the first one's cost: fall back to that answer."""
    hedged = Completion(
        text="Probably the belt tension.", finish_reason="stop", usage=Usage(100_000, 1_000)
    )
    first, second = cloud(hedged, name="openai"), cloud(ANSWER, name="anthropic")
    estimate = estimate_cost_usd(
        request_prompt_chars(QUESTION), QUESTION.max_output_tokens, CLOUD_PRICE
    )
    budget = Budget(daily_usd=estimate * 2)

    def check(candidate: Candidate, amount: float) -> BudgetCheck:
        return budget.check(spent_today=0.0, spent_month=0.0, estimate=amount)

    result = await run(
        [first, second],
        request=QUESTION,
        policy=RoutingPolicy(confidence_threshold=0.9),
        budget_check=check,
    )
    assert outcomes(result) == [("openai", "low_confidence"), ("anthropic", "skipped_budget")]
    assert provider_of(second).calls == []
    assert result.fallback
    assert result.accepted is hedged
    assert result.budget_blocked
    assert result.reason.endswith("using t2 openai's answer (confidence 0.75): nothing better came")


async def test_invalid_local_call_with_the_cloud_over_budget_gives_no_answer() -> None:
    blocked = cloud(GOOD_CALL)
    result = await run(
        [local(NONSENSE_CALL), blocked],
        budget_check=lambda c, e: BudgetCheck(False, "daily budget used", 0.0),
    )
    assert outcomes(result) == [("ollama", "invalid_tool_call"), ("openai", "skipped_budget")]
    assert result.attempts[0].final
    assert result.accepted is None
    assert result.budget_blocked
    assert result.escalations == 0
    assert provider_of(blocked).calls == []


async def test_budget_blocked_with_nothing_else_gives_no_answer() -> None:
    result = await run(
        [cloud(ANSWER)], budget_check=lambda c, e: BudgetCheck(False, "monthly budget used", 0.0)
    )
    assert result.accepted is None
    assert result.budget_blocked
    assert outcomes(result) == [("openai", "skipped_budget")]


async def test_local_candidates_are_never_budget_checked_and_the_route_cost_is_included() -> None:
    seen: list[tuple[str, float]] = []

    def record(candidate: Candidate, estimate: float) -> BudgetCheck:
        seen.append((candidate.name, estimate))
        return BudgetCheck(True, "ok", None)

    first = cloud(
        Completion(text=UNSURE.text, finish_reason="stop", usage=Usage(10_000, 1_000)),
        name="openai",
    )
    second = cloud(ANSWER, name="anthropic")
    result = await run([local(UNSURE), first, second], request=QUESTION, budget_check=record)
    assert outcomes(result) == [
        ("ollama", "low_confidence"),
        ("openai", "low_confidence"),
        ("anthropic", "accepted"),
    ]
    estimate = estimate_cost_usd(
        request_prompt_chars(QUESTION), QUESTION.max_output_tokens, CLOUD_PRICE
    )
    first_cost = (10_000 * 1.0 + 1_000 * 5.0) / 1e6
    # Up front with the estimate alone, then again once this route has spent money.
    assert [name for name, _ in seen] == ["openai", "anthropic", "anthropic"]
    assert seen[0][1] == pytest.approx(estimate)
    assert seen[1][1] == pytest.approx(estimate)
    assert seen[2][1] == pytest.approx(estimate + first_cost)
    assert result.attempts[1].cost_usd == pytest.approx(first_cost)
    assert result.total_cost_usd == pytest.approx(first_cost + (2_000 * 1.0 + 100 * 5.0) / 1e6)


# -- deadline ------------------------------------------------------------------------------------


async def test_each_call_gets_what_is_left_of_the_deadline() -> None:
    clock = FakeClock()
    t1 = local(UNSURE, clock=clock, takes_s=25.0)
    t2 = cloud(ANSWER, clock=clock, takes_s=1.0)
    result = await run([t1, t2], request=QUESTION, clock=clock)
    assert provider_of(t1).calls[0][1].timeout_s == 30.0
    assert provider_of(t2).calls[0][1].timeout_s == pytest.approx(5.0)
    assert result.attempts[0].latency_ms == pytest.approx(25_000.0)
    assert result.total_latency_ms == pytest.approx(26_000.0)


async def test_request_timeout_is_kept_when_it_is_shorter() -> None:
    clock = FakeClock()
    t1 = local(ANSWER, clock=clock)
    await run(
        [t1], request=CompletionRequest(messages=QUESTION.messages, timeout_s=4.0), clock=clock
    )
    assert provider_of(t1).calls[0][1].timeout_s == 4.0


async def test_nothing_left_skips_the_rest() -> None:
    clock = FakeClock()
    t2, t3 = cloud(ANSWER, clock=clock), cloud(ANSWER, name="anthropic")
    result = await run(
        [local(UNSURE, clock=clock, takes_s=31.0), t2, t3], request=QUESTION, clock=clock
    )
    assert outcomes(result) == [
        ("ollama", "low_confidence"),
        ("openai", "skipped_deadline"),
        ("anthropic", "skipped_deadline"),
    ]
    assert provider_of(t2).calls == []
    assert result.fallback  # the late local answer beats none
    assert "deadline of 30s reached" in result.reason


async def test_a_hanging_provider_is_abandoned_at_its_timeout_plus_grace() -> None:
    policy = RoutingPolicy(deadline_s=0.05, timeout_grace_s=0.05)
    result = await run([local(ANSWER, hang=True), cloud(ANSWER)], request=QUESTION, policy=policy)
    assert outcomes(result) == [("ollama", "error"), ("openai", "skipped_deadline")]
    assert result.attempts[0].error_type == "TimeoutError"
    # The call's timeout is what was left of the deadline when it started (<= 0.05 s).
    message = result.attempts[0].error_message or ""
    assert message.startswith("no answer within ")
    assert 0.0 < float(message.removeprefix("no answer within ").removesuffix("s")) <= 0.05
    assert 90 <= result.attempts[0].latency_ms < 2_000


# -- streaming -----------------------------------------------------------------------------------


async def test_only_the_final_candidate_streams() -> None:
    deltas: list[str] = []

    async def on_delta(text: str) -> None:
        deltas.append(text)

    t1, t2 = local(UNSURE), cloud(ANSWER)
    result = await run([t1, t2], request=QUESTION, on_delta=on_delta)
    assert [kind for kind, _ in provider_of(t1).calls] == ["complete"]
    assert [kind for kind, _ in provider_of(t2).calls] == ["stream"]
    assert "".join(deltas) == ANSWER.text  # the rejected local text never went out
    assert len(deltas) == 3
    assert result.streamed
    assert result.attempts[1].streamed
    assert not result.attempts[0].streamed
    assert result.attempts[1].ttft_ms is not None
    assert provider_of(t2).closed_streams == 1


async def test_a_single_candidate_streams_and_without_on_delta_nothing_streams() -> None:
    deltas: list[str] = []

    async def on_delta(text: str) -> None:
        deltas.append(text)

    only = local(ANSWER)
    result = await run([only], request=QUESTION, on_delta=on_delta)
    assert provider_of(only).calls[0][0] == "stream"
    assert "".join(deltas) == ANSWER.text
    assert result.streamed
    buffered = local(ANSWER)
    assert not (await run([buffered], request=QUESTION)).streamed
    assert provider_of(buffered).calls[0][0] == "complete"


async def test_streaming_error_after_text_is_reported_as_a_partial_stream() -> None:
    deltas: list[str] = []

    async def on_delta(text: str) -> None:
        deltas.append(text)

    hedged = Completion(text="Maybe the belt, possibly the current.", finish_reason="stop")
    t2 = cloud(ANSWER, fail_mid_stream=ProviderUnavailableError("reset by peer"))
    result = await run([local(hedged), t2], request=QUESTION, on_delta=on_delta)
    assert outcomes(result) == [("ollama", "low_confidence"), ("openai", "error")]
    assert len(deltas) == 1
    assert result.attempts[1].streamed
    assert result.partial_stream
    assert result.fallback
    assert not result.streamed  # the fallback answer's text has not been sent yet
    assert provider_of(t2).closed_streams == 1


async def test_a_stream_without_a_final_completion_is_an_error() -> None:
    async def on_delta(text: str) -> None:
        return None

    result = await run([cloud(ANSWER, omit_final=True)], request=QUESTION, on_delta=on_delta)
    assert result.attempts[0].outcome == "error"
    assert result.attempts[0].error_type == ProviderResponseError.__name__


async def test_on_delta_errors_are_the_callers_and_propagate() -> None:
    async def broken_sink(text: str) -> None:
        raise RuntimeError("websocket closed")

    with pytest.raises(RuntimeError, match="websocket closed"):
        await run([cloud(ANSWER)], request=QUESTION, on_delta=broken_sink)


# -- the result ----------------------------------------------------------------------------------


async def test_result_to_dict_is_json_safe_and_complete() -> None:
    result = await run([local(NONSENSE_CALL), cloud(GOOD_CALL)])
    data = json.loads(json.dumps(result.to_dict()))
    assert data["candidate"] == {"tier": "t2", "name": "openai", "model": "model", "local": False}
    assert data["accepted"]["tool_calls"][0]["arguments"] == {"name": "Bench Lamp"}
    assert data["escalations"] == 1
    assert data["confidence"] == 1.0
    first, second = data["attempts"]
    assert first["outcome"] == "invalid_tool_call"
    assert first["tool_calls"][0]["arguments"] == {"name": "namen", "area": "aarea"}
    assert first["confidence"]["components"]["tool_validity"] == 0.0
    assert "tool call HassTurnOn names unknown entity 'namen'" in first["confidence"]["reasons"]
    assert second["usage"]["input_tokens"] == 1_000
    assert second["cost_usd"] == pytest.approx((1_000 * 1.0 + 20 * 5.0) / 1e6)
    assert second["estimate_usd"] > second["cost_usd"]


# -- what each candidate can take ---------------------------------------------------------------


async def test_each_candidate_gets_the_request_it_can_take() -> None:
    small = Candidate(
        Tier.LOCAL_MODEL,
        "tiny",
        ScriptedProvider(UNSURE),
        Price(),
        local=True,
        tools=False,
        max_output_tokens=128,
        temperature=0.0,
    )
    t2 = cloud(GOOD_CALL)
    await run([small, t2])
    (_, sent_small), (_, sent_cloud) = provider_of(small).calls[0], provider_of(t2).calls[0]
    assert sent_small.tools == ()
    assert sent_small.max_output_tokens == 128
    assert sent_small.temperature == 0.0
    assert sent_cloud.tools == REQUEST.tools
    assert sent_cloud.max_output_tokens == REQUEST.max_output_tokens
    assert sent_cloud.temperature == REQUEST.temperature


def test_a_cap_never_raises_the_request_limit() -> None:
    capped = local(ANSWER)
    assert capped.adapt(REQUEST) is REQUEST  # nothing to change: the same request
    roomy = Candidate(
        Tier.LOCAL_MODEL,
        "x",
        ScriptedProvider(ANSWER),
        Price(),
        local=True,
        max_output_tokens=10**6,
    )
    assert roomy.adapt(REQUEST).max_output_tokens == REQUEST.max_output_tokens


async def test_a_tool_call_from_a_candidate_given_no_tools_is_invalid() -> None:
    made_up = Candidate(
        Tier.LOCAL_MODEL, "tiny", ScriptedProvider(GOOD_CALL), Price(), local=True, tools=False
    )
    result = await run([made_up, cloud(ANSWER)])
    assert outcomes(result) == [("tiny", "invalid_tool_call"), ("openai", "accepted")]


async def test_an_action_answered_in_words_by_a_model_without_tools_escalates() -> None:
    claims = Completion(text="Done, the kitchen light is on now.", finish_reason="stop")
    no_tools = Candidate(
        Tier.LOCAL_MODEL, "tiny", ScriptedProvider(claims), Price(), local=True, tools=False
    )
    result = await run([no_tools, cloud(GOOD_CALL)])
    assert outcomes(result) == [("tiny", "low_confidence"), ("openai", "accepted")]
    report = result.attempts[0].confidence
    assert report is not None
    assert report.components["action_without_tool_call"] == 1.0


async def test_a_state_question_answered_by_a_model_that_cannot_read_state_escalates() -> None:
    """The bundled model (no tools) guessed "The kitchen light is on." at 0.75; it was off."""
    asked = (Message(role="user", content="Is the bench lamp on?"),)
    guess = Completion(text="The bench lamp is on.", finish_reason="stop")
    no_tools = Candidate(
        Tier.LOCAL_MODEL, "tiny", ScriptedProvider(guess), Price(), local=True, tools=False
    )
    result = await run([no_tools, cloud(ANSWER)], CompletionRequest(messages=asked, tools=TOOLS))
    assert outcomes(result) == [("tiny", "low_confidence"), ("openai", "accepted")]
    report = result.attempts[0].confidence
    assert report is not None and report.components["state_not_read"] == 1.0
    # A model given tools answers from what it had; so does one after a tool result this turn.
    result = await run(
        [local(guess), cloud(ANSWER)], CompletionRequest(messages=asked, tools=TOOLS)
    )
    assert outcomes(result) == [("ollama", "accepted")]
    read = (
        *asked,
        Message(role="assistant", content=""),
        Message(
            role="tool", content='{"bench lamp": "on"}', tool_call_id="c1", name="GetLiveContext"
        ),
    )
    result = await run(
        [
            Candidate(
                Tier.LOCAL_MODEL, "tiny", ScriptedProvider(guess), Price(), local=True, tools=False
            ),
            cloud(ANSWER),
        ],
        CompletionRequest(messages=read, tools=TOOLS),
    )
    assert outcomes(result) == [("tiny", "accepted")]
