"""The cascade: ask the planned candidates in order until one answer is good enough.

Pure logic over the Provider interface (no Home Assistant, no SDK, no network of its own).

Rules:
- Candidates are tried in plan order. Paid (non-local) candidates are budget-checked with an
  estimate (pricing.estimate_cost_usd) once up front, and again before their call when this
  route has already spent money (estimate + spent: the ledger has not seen it yet); blocked ->
  "skipped_budget", RouteResult.budget_blocked. Local candidates are never budget-checked.
- ProviderError (any subclass), a timeout, or an unexpected exception from a provider ->
  "error"; fail over to the next candidate. Errors are not escalations.
- Each call's timeout is min(request.timeout_s, what is left of policy.deadline_s); with nothing
  left -> "skipped_deadline". A call running past its timeout + policy.timeout_grace_s is
  abandoned as an error.
- Every answer is scored (confidence.assess). A non-final candidate's answer is accepted when
  the report accepts it. The FINAL candidate's answer is accepted unless it hard-fails (invalid
  tool call, empty): rejecting it would leave no answer at all. Final means nothing may come
  after it: the last of the plan, the one reached when max_escalations is used up, or one whose
  later candidates are all over budget already (those are then recorded as "skipped_budget").
- An escalation is moving past an answered-but-rejected candidate; at most
  policy.max_escalations. Once used up, the remaining candidates are "skipped_max_escalations".
- Streaming: the final candidate is asked with provider.stream() and its text is forwarded to
  on_delta as it arrives; every other candidate uses complete(), so nothing reaches the user
  before acceptance. A streamed final answer that then hard-fails has had its text shown (its
  tool calls are still never returned for execution); RouteResult.partial_stream says so.
- route() never executes tools: it returns the accepted Completion (its tool calls validated)
  and its Candidate. Rejected answers' tool calls are only recorded in their Attempt.
- Nothing accepted but some answer was rejected only for low confidence (later candidates
  failed, were over budget or out of time): with policy.fallback_to_best_rejected the best such
  answer is returned, RouteResult.fallback = True (its Attempt keeps outcome "low_confidence").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
import logging
import time
from typing import Any, Literal

from .budget import BudgetCheck
from .confidence import HARD_FAIL_INVALID_TOOL_CALL, ConfidenceReport, ExposedContext, assess
from .policy import Candidate, RoutingPolicy, plan
from .pricing import cost_usd, estimate_cost_usd, request_prompt_chars
from .providers.base import Provider, ProviderError, ProviderResponseError
from .types import Completion, CompletionRequest, TextDelta, Tier, ToolCall, ToolSpec, Usage

__all__ = ["Attempt", "Candidate", "Outcome", "RouteResult", "plan", "route"]

_LOGGER = logging.getLogger(__name__)

Outcome = Literal[
    "accepted",
    "low_confidence",
    "invalid_tool_call",
    "error",
    "skipped_budget",
    "skipped_deadline",
    "skipped_max_escalations",
]


def usage_dict(usage: Usage) -> dict[str, Any]:
    """JSON-safe usage."""
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "reported_cost_usd": usage.reported_cost_usd,
    }


def tool_call_dict(call: ToolCall) -> dict[str, Any]:
    """JSON-safe tool call (as proposed; not executed)."""
    return {
        "id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "raw_arguments": call.raw_arguments,
        "parse_error": call.parse_error,
    }


@dataclass(frozen=True, slots=True)
class Attempt:
    """One candidate's turn in a route, whatever became of it."""

    tier: Tier
    name: str
    model: str
    outcome: Outcome
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    usage: Usage | None = None
    cost_usd: float = 0.0
    estimate_usd: float | None = None  # the budget estimate, for paid candidates
    confidence: ConfidenceReport | None = None
    error_type: str | None = None
    error_message: str | None = None
    detail: str = ""  # why it was skipped (budget verdict, deadline, escalation limit)
    tool_calls: tuple[ToolCall, ...] = ()  # proposed; route() never executes them
    streamed: bool = False  # text of this attempt was forwarded to on_delta
    final: bool = False  # nothing could come after it (accepted unless it hard-failed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (for the ledger, events and the logs API)."""
        return {
            "tier": self.tier.value,
            "name": self.name,
            "model": self.model,
            "outcome": self.outcome,
            "latency_ms": round(self.latency_ms, 3),
            "ttft_ms": None if self.ttft_ms is None else round(self.ttft_ms, 3),
            "usage": None if self.usage is None else usage_dict(self.usage),
            "cost_usd": self.cost_usd,
            "estimate_usd": self.estimate_usd,
            "confidence": None if self.confidence is None else self.confidence.to_dict(),
            "error_type": self.error_type,
            "error_message": self.error_message,
            "detail": self.detail,
            "tool_calls": [tool_call_dict(c) for c in self.tool_calls],
            "streamed": self.streamed,
            "final": self.final,
        }


@dataclass(frozen=True, slots=True)
class RouteResult:
    """What route() decided, and everything it tried on the way."""

    accepted: Completion | None
    candidate: Candidate | None
    attempts: tuple[Attempt, ...]
    reason: str  # one sentence: why this tier
    escalations: int
    budget_blocked: bool
    total_cost_usd: float
    total_latency_ms: float
    fallback: bool = False  # accepted is the best low-confidence answer, nothing better came
    streamed: bool = False  # accepted's text already went out through on_delta
    partial_stream: bool = (
        False  # text of an attempt that was not accepted went out through on_delta
    )
    accepted_index: int | None = field(default=None, repr=False)  # into attempts

    @property
    def accepted_attempt(self) -> Attempt | None:
        """The attempt whose answer was used (also for a fallback)."""
        return None if self.accepted_index is None else self.attempts[self.accepted_index]

    @property
    def confidence(self) -> ConfidenceReport | None:
        """The used answer's confidence report."""
        attempt = self.accepted_attempt
        return None if attempt is None else attempt.confidence

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        accepted = self.accepted
        candidate = self.candidate
        return {
            "accepted": None
            if accepted is None
            else {
                "text": accepted.text,
                "tool_calls": [tool_call_dict(c) for c in accepted.tool_calls],
                "finish_reason": accepted.finish_reason,
                "model": accepted.model,
                "citations": [{"url": c.url, "title": c.title} for c in accepted.citations],
            },
            "candidate": None
            if candidate is None
            else {
                "tier": candidate.tier.value,
                "name": candidate.name,
                "model": candidate.provider.model,
                "local": candidate.local,
            },
            "attempts": [a.to_dict() for a in self.attempts],
            "reason": self.reason,
            "escalations": self.escalations,
            "budget_blocked": self.budget_blocked,
            "total_cost_usd": self.total_cost_usd,
            "total_latency_ms": round(self.total_latency_ms, 3),
            "fallback": self.fallback,
            "streamed": self.streamed,
            "partial_stream": self.partial_stream,
            "confidence": None if self.confidence is None else self.confidence.score,
        }


class _DeltaSinkError(Exception):
    """on_delta raised: the caller's bug, not the provider's; re-raised as it was."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


@dataclass(slots=True)
class _StreamState:
    started: float
    ttft_ms: float | None = None
    chars: int = 0


async def _stream(
    provider: Provider,
    request: CompletionRequest,
    on_delta: Callable[[str], Awaitable[None]],
    clock: Callable[[], float],
    state: _StreamState,
) -> Completion:
    iterator = provider.stream(request)
    completion: Completion | None = None
    try:
        async for item in iterator:
            if isinstance(item, TextDelta):
                if not item.text:
                    continue
                if state.ttft_ms is None:
                    state.ttft_ms = (clock() - state.started) * 1000
                state.chars += len(item.text)
                try:
                    await on_delta(item.text)
                except Exception as err:
                    raise _DeltaSinkError(err) from err
            elif isinstance(item, Completion):
                completion = item
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
    if completion is None:
        raise ProviderResponseError("the stream ended without a final Completion")
    return completion


def _tool_result_this_turn(request: CompletionRequest) -> bool:
    """A tool answered after the user's last message (e.g. GetLiveContext read the states)."""
    for message in reversed(request.messages):
        if message.role == "user":
            return False
        if message.role == "tool":
            return True
    return False


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rejection(report: ConfidenceReport) -> str:
    if report.hard_fail is not None:
        return _short(report.hard_fail)
    return f"confidence {report.score:.2f} < {report.threshold:.2f}"


async def route(
    request: CompletionRequest,
    plan: Sequence[Candidate],
    *,
    policy: RoutingPolicy,
    exposed: ExposedContext,
    tools: Sequence[ToolSpec],
    budget_check: Callable[[Candidate, float], BudgetCheck],
    on_delta: Callable[[str], Awaitable[None]] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RouteResult:
    """Try the planned candidates in order; see the module docstring for the rules."""
    started = clock()
    attempts: list[Attempt] = []
    notes: list[str] = []
    escalations = 0
    budget_blocked = False
    spent = 0.0
    prompt_chars = request_prompt_chars(request)
    request_text = request.last_user_text()
    state_read = _tool_result_this_turn(request)
    constrained = request.json_schema is not None
    # Answers rejected only for low confidence: (score, attempt index, candidate, completion).
    soft_rejected: list[tuple[float, int, Candidate, Completion]] = []
    accepted: Completion | None = None
    accepted_candidate: Candidate | None = None
    accepted_index: int | None = None
    streamed_accepted = False
    partial_stream = False
    stop: Outcome | None = None  # once set, every remaining candidate is skipped with it
    # Budget verdicts up front (estimate alone): a paid candidate blocked now stays blocked
    # (spending only grows), so the candidate before it is final and may stream.
    estimates = [
        None if c.local else estimate_cost_usd(prompt_chars, request.max_output_tokens, c.price)
        for c in plan
    ]
    verdicts = [
        None if estimate is None else budget_check(c, estimate)
        for c, estimate in zip(plan, estimates, strict=True)
    ]

    def runnable(position: int) -> bool:
        verdict = verdicts[position]
        return verdict is None or verdict.allowed

    def skip_for_budget(position: int, verdict: BudgetCheck) -> None:
        nonlocal budget_blocked
        skipped = plan[position]
        budget_blocked = True
        attempts.append(
            Attempt(
                skipped.tier,
                skipped.name,
                skipped.provider.model,
                "skipped_budget",
                estimate_usd=estimates[position],
                detail=verdict.reason,
            )
        )
        notes.append(f"{skipped.label} skipped (budget: {verdict.reason})")

    for index, candidate in enumerate(plan):
        label = candidate.label
        model = candidate.provider.model
        remaining = policy.deadline_s - (clock() - started)
        if stop is None and remaining <= 0:
            stop = "skipped_deadline"
            notes.append(f"deadline of {policy.deadline_s:g}s reached")
        if stop is not None:
            detail = (
                f"deadline of {policy.deadline_s:g}s reached"
                if stop == "skipped_deadline"
                else f"escalation limit {policy.max_escalations} reached"
            )
            attempts.append(Attempt(candidate.tier, candidate.name, model, stop, detail=detail))
            continue

        estimate = estimates[index]
        verdict = verdicts[index]
        if estimate is not None and verdict is not None:
            if verdict.allowed and spent > 0:  # what this route spent is not in the ledger yet
                verdict = budget_check(candidate, estimate + spent)
            if not verdict.allowed:
                skip_for_budget(index, verdict)
                continue

        later = range(index + 1, len(plan))
        if escalations >= policy.max_escalations and later:
            final, why_final = True, "escalation limit reached"
        elif not any(runnable(position) for position in later):
            final = True
            why_final = "later candidates over budget" if later else "last candidate"
        else:
            final, why_final = False, ""
        timeout_s = min(request.timeout_s, remaining)
        call = replace(candidate.adapt(request), timeout_s=timeout_s)
        use_stream = final and on_delta is not None
        call_started = clock()
        state = _StreamState(call_started)
        try:
            async with asyncio.timeout(timeout_s + policy.timeout_grace_s):
                if use_stream and on_delta is not None:
                    completion = await _stream(candidate.provider, call, on_delta, clock, state)
                else:
                    completion = await candidate.provider.complete(call)
        except _DeltaSinkError as err:
            raise err.original from None
        # Any provider failure fails over; a bug in one provider must not silence the others.
        except Exception as err:
            if isinstance(err, TimeoutError) and not isinstance(err, ProviderError):
                error_type, message = "TimeoutError", f"no answer within {timeout_s:.2f}s"
            else:
                error_type, message = type(err).__name__, str(err) or type(err).__name__
                if not isinstance(err, ProviderError):
                    _LOGGER.exception("Provider %s raised an unexpected error", label)
            partial_stream = partial_stream or state.chars > 0
            attempts.append(
                Attempt(
                    candidate.tier,
                    candidate.name,
                    model,
                    "error",
                    latency_ms=(clock() - call_started) * 1000,
                    ttft_ms=state.ttft_ms,
                    estimate_usd=estimate,
                    error_type=error_type,
                    error_message=_short(message, 500),
                    streamed=state.chars > 0,
                    final=final,
                )
            )
            notes.append(f"{label} failed ({error_type}: {_short(message, 80)})")
            continue

        latency_ms = (clock() - call_started) * 1000
        cost = cost_usd(completion.usage, candidate.price)
        spent += cost
        report = assess(
            completion,
            tools=call.tools,  # a call to a tool it was not given is invalid
            actions_possible=bool(tools),
            exposed=exposed,
            threshold=policy.confidence_threshold,
            request_text=request_text,
            constrained=constrained,
            # Only a model given no tools is known not to have read live state; one given tools
            # answered from what it had (HA's prompt and any tool result), judged by the rest.
            state_read=state_read or bool(call.tools),
        )
        is_accepted = report.hard_fail is None if final else report.accepted
        outcome: Outcome
        if is_accepted:
            outcome = "accepted"
        elif report.hard_fail_kind == HARD_FAIL_INVALID_TOOL_CALL:
            outcome = "invalid_tool_call"
        else:
            outcome = "low_confidence"
        attempts.append(
            Attempt(
                candidate.tier,
                candidate.name,
                completion.model or model,
                outcome,
                latency_ms=latency_ms,
                ttft_ms=state.ttft_ms if state.ttft_ms is not None else completion.ttft_ms,
                usage=completion.usage,
                cost_usd=cost,
                estimate_usd=estimate,
                confidence=report,
                tool_calls=completion.tool_calls,
                streamed=state.chars > 0,
                final=final,
            )
        )
        if is_accepted:
            accepted, accepted_candidate, accepted_index = completion, candidate, len(attempts) - 1
            streamed_accepted = state.chars > 0
            if final and not report.accepted:
                notes.append(f"{label} accepted: {why_final} (confidence {report.score:.2f})")
            else:
                notes.append(
                    f"{label} accepted: confidence {report.score:.2f} ≥ {report.threshold:.2f}"
                )
            if why_final == "later candidates over budget":  # say why nothing later was asked
                for position in later:
                    if (blocked := verdicts[position]) is not None and not blocked.allowed:
                        skip_for_budget(position, blocked)
            break
        partial_stream = partial_stream or state.chars > 0
        notes.append(f"{label} rejected ({_rejection(report)})")
        if report.hard_fail is None:
            soft_rejected.append((report.score, len(attempts) - 1, candidate, completion))
        if why_final == "escalation limit reached":
            stop = "skipped_max_escalations"
            notes.append(f"escalation limit {policy.max_escalations} reached")
        elif not final:
            escalations += 1

    fallback = False
    if accepted is None and soft_rejected and policy.fallback_to_best_rejected:
        score, accepted_index, accepted_candidate, accepted = max(
            soft_rejected, key=lambda item: (item[0], -item[1])
        )
        fallback = True
        notes.append(
            f"using {accepted_candidate.label}'s answer (confidence {score:.2f}): nothing better came"
        )
    if not plan:
        notes.append("no model candidate is configured for this request")
    elif accepted is None:
        notes.append("no acceptable answer")
    return RouteResult(
        accepted=accepted,
        candidate=accepted_candidate,
        attempts=tuple(attempts),
        reason="; ".join(notes),
        escalations=escalations,
        budget_blocked=budget_blocked,
        total_cost_usd=sum(a.cost_usd for a in attempts),
        total_latency_ms=(clock() - started) * 1000,
        fallback=fallback,
        streamed=streamed_accepted,
        partial_stream=partial_stream,
        accepted_index=accepted_index,
    )
