"""Routing policy and the plan: which candidates to try, in which order.

Pure: no Home Assistant, no network. T0 (HA's own sentence triggers and intents) runs in the HA
glue before the plan; the plan orders the model tiers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
import math
from typing import Any

from .confidence import is_action_request
from .freshness import FreshnessReport
from .providers.base import Provider
from .types import CompletionRequest, Message, Price, Tier

DEFAULT_TIER_ORDER: tuple[Tier, ...] = (Tier.LOCAL_INTENT, Tier.LOCAL_MODEL, Tier.CLOUD)
MODEL_TIERS = frozenset({Tier.LOCAL_MODEL, Tier.CLOUD})
# What a web-search model is told instead of the home's Assist prompt (see Candidate.lean).
LEAN_INSTRUCTIONS = (
    "You are Jarvis, the voice assistant of a fabrication workshop. Answer the question with "
    "current facts from the web, in the language of the question, in one to three short "
    "sentences suitable to be read aloud. Say so when you cannot find a reliable answer."
)


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """One agent's routing settings.

    tier_order: tiers to use, cheapest first (T0 is the HA glue's; T2f is never listed here, it
        is used only for requests that need fresh facts).
    confidence_threshold: an answer scoring at least this is accepted (except the last
        candidate's, which is accepted unless it hard-fails; see cascade.route).
    max_escalations: how many answered-but-rejected candidates route() may move past.
    deadline_s: the whole route's time budget; each call's timeout is cut to what is left.
    timeout_grace_s: how long past its timeout a provider call may run before route() abandons it.
    fallback_to_best_rejected: when no candidate is accepted (later ones failed, were over
        budget or out of time), use the best answer rejected only for low confidence rather
        than none.
    """

    tier_order: tuple[Tier, ...] = DEFAULT_TIER_ORDER
    confidence_threshold: float = 0.6
    freshness_routing: bool = True
    max_escalations: int = 2
    deadline_s: float = 30.0
    timeout_grace_s: float = 0.5
    fallback_to_best_rejected: bool = True

    def __post_init__(self) -> None:
        """Refuse settings that cannot work."""
        if not 0.0 <= self.confidence_threshold <= 1.0:
            raise ValueError(
                f"confidence_threshold must be within 0..1, got {self.confidence_threshold}"
            )
        if self.max_escalations < 0:
            raise ValueError(f"max_escalations must not be negative, got {self.max_escalations}")
        if not (self.deadline_s > 0 and math.isfinite(self.deadline_s)):
            raise ValueError(
                f"deadline_s must be a positive number of seconds, got {self.deadline_s}"
            )
        if self.timeout_grace_s < 0:
            raise ValueError(f"timeout_grace_s must not be negative, got {self.timeout_grace_s}")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One configured model the router may ask; local ones are free and never budget-checked.

    What a model can take is its own: `tools=False` for a model that cannot call tools (Ollama's
    /api/show says so; the add-on's 135M model only makes them up), `max_output_tokens` to cap a
    small model that rambles or loops, `temperature` to pin sampling (0: its most likely answer,
    which is also what its logprobs describe).
    `lean`: a web-search model (T2f) gets a short instruction and the conversation's text instead
    of the home's Assist prompt and tools, unless the request is a device command: a search
    needs neither, and the prompt (the home's areas and devices, ~2,900 tokens) is both billed
    at every search and sent to the search provider.
    """

    tier: Tier
    name: str  # the provider's config title (or id): shown in reasons, the ledger, spend
    provider: Provider
    price: Price
    local: bool
    tools: bool = True
    max_output_tokens: int | None = None
    temperature: float | None = None
    lean: bool = False

    @property
    def label(self) -> str:
        """How reasons name it: "t1 Ollama workshop"."""
        return f"{self.tier.value} {self.name}"

    def adapt(self, request: CompletionRequest) -> CompletionRequest:
        """The request as this candidate gets it."""
        changes: dict[str, Any] = {}
        if self.lean and not is_action_request(request.last_user_text() or ""):
            changes["messages"] = lean_messages(request.messages)
            changes["tools"] = ()
        if not self.tools and request.tools:
            changes["tools"] = ()
        if self.max_output_tokens is not None and (
            self.max_output_tokens < request.max_output_tokens
        ):
            changes["max_output_tokens"] = self.max_output_tokens
        if self.temperature is not None:
            changes["temperature"] = self.temperature
        return replace(request, **changes) if changes else request


def lean_messages(messages: Sequence[Message]) -> tuple[Message, ...]:
    """LEAN_INSTRUCTIONS and the conversation's text turns (no system prompt, no tool traffic)."""
    turns = tuple(
        Message(role=m.role, content=m.content)
        for m in messages
        if m.role in ("user", "assistant") and m.content.strip()
    )
    return (Message(role="system", content=LEAN_INSTRUCTIONS), *turns)


def plan(
    policy: RoutingPolicy, candidates: Sequence[Candidate], freshness: FreshnessReport
) -> list[Candidate]:
    """The candidates to try, in order.

    - Model tiers follow policy.tier_order (T0 skipped: the HA glue ran it already); several
      candidates of one tier keep their configured order (failover within the tier).
    - A request that needs fresh facts (and freshness_routing on) goes to the T2f candidates
      first, then the cloud tier; the local model is left out, its knowledge is stale. When no
      T2f or cloud candidate exists the local model stays: a possibly stale answer beats none.
    - Otherwise T2f candidates are left out.
    """
    tiers: list[Tier] = []
    for tier in policy.tier_order:
        if tier in MODEL_TIERS and tier not in tiers:
            tiers.append(tier)
    ordered = [c for tier in tiers for c in candidates if c.tier is tier]
    if not (freshness.needs_fresh and policy.freshness_routing):
        return ordered
    fresh_first = [c for c in candidates if c.tier is Tier.FRESH]
    fresh_first.extend(c for c in ordered if c.tier is not Tier.LOCAL_MODEL)
    return fresh_first or ordered
