"""The plan: which candidates, in which order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from custom_components.jarvis.router.freshness import FreshnessReport
from custom_components.jarvis.router.policy import LEAN_INSTRUCTIONS, Candidate, RoutingPolicy, plan
from custom_components.jarvis.router.providers.base import Provider
from custom_components.jarvis.router.types import (
    Completion,
    CompletionRequest,
    Message,
    Price,
    ProviderKind,
    TextDelta,
    Tier,
    ToolCall,
    ToolSpec,
)

FRESH = FreshnessReport(needs_fresh=True, score=0.9, cues=("news",))
STALE_OK = FreshnessReport(needs_fresh=False, score=0.0, cues=())


class IdleProvider:
    """Never asked: plan() only orders candidates."""

    def __init__(self, kind: ProviderKind) -> None:
        self.kind = kind
        self.model = kind.value

    async def complete(self, request: CompletionRequest) -> Completion:
        raise AssertionError("plan() must not call providers")

    def stream(self, request: CompletionRequest) -> AsyncIterator[TextDelta | Completion]:
        raise AssertionError("plan() must not call providers")

    async def close(self) -> None:
        """Nothing to release."""


def candidate(tier: Tier, name: str) -> Candidate:
    kind = {
        Tier.LOCAL_MODEL: ProviderKind.OLLAMA,
        Tier.CLOUD: ProviderKind.OPENAI,
        Tier.FRESH: ProviderKind.PERPLEXITY,
    }[tier]
    return Candidate(tier, name, IdleProvider(kind), Price(), local=tier is Tier.LOCAL_MODEL)


OPENAI = candidate(Tier.CLOUD, "openai")
OLLAMA = candidate(Tier.LOCAL_MODEL, "ollama")
PERPLEXITY = candidate(Tier.FRESH, "perplexity")
ANTHROPIC = candidate(Tier.CLOUD, "anthropic")
ADDON = candidate(Tier.LOCAL_MODEL, "add-on model")
ALL = [OPENAI, OLLAMA, PERPLEXITY, ANTHROPIC, ADDON]  # in configured order


def names(candidates: list[Candidate]) -> list[str]:
    return [c.name for c in candidates]


def test_fake_provider_satisfies_the_protocol() -> None:
    assert isinstance(OPENAI.provider, Provider)


def test_tiers_in_policy_order_and_configured_order_within_a_tier() -> None:
    assert names(plan(RoutingPolicy(), ALL, STALE_OK)) == [
        "ollama",
        "add-on model",
        "openai",
        "anthropic",
    ]


def test_fresh_facts_go_to_t2f_first_and_skip_the_local_model() -> None:
    assert names(plan(RoutingPolicy(), ALL, FRESH)) == ["perplexity", "openai", "anthropic"]


def test_freshness_routing_off_ignores_freshness_and_t2f() -> None:
    policy = RoutingPolicy(freshness_routing=False)
    assert names(plan(policy, ALL, FRESH)) == ["ollama", "add-on model", "openai", "anthropic"]


def test_fresh_without_t2f_uses_the_cloud_only() -> None:
    assert names(plan(RoutingPolicy(), [OLLAMA, OPENAI], FRESH)) == ["openai"]


def test_fresh_with_only_a_local_model_keeps_it() -> None:
    assert names(plan(RoutingPolicy(), [OLLAMA, ADDON], FRESH)) == ["ollama", "add-on model"]


def test_tier_order_decides_and_unlisted_tiers_are_left_out() -> None:
    cloud_first = RoutingPolicy(tier_order=(Tier.CLOUD, Tier.LOCAL_MODEL))
    assert names(plan(cloud_first, ALL, STALE_OK)) == [
        "openai",
        "anthropic",
        "ollama",
        "add-on model",
    ]
    local_only = RoutingPolicy(tier_order=(Tier.LOCAL_INTENT, Tier.LOCAL_MODEL))
    assert names(plan(local_only, ALL, STALE_OK)) == ["ollama", "add-on model"]
    # T2f in tier_order does not make it a general tier.
    listed = RoutingPolicy(tier_order=(Tier.FRESH, Tier.LOCAL_MODEL, Tier.LOCAL_MODEL))
    assert names(plan(listed, ALL, STALE_OK)) == ["ollama", "add-on model"]


def test_no_candidates_no_plan() -> None:
    assert plan(RoutingPolicy(), [], FRESH) == []


def test_candidate_label() -> None:
    assert OLLAMA.label == "t1 ollama"
    assert PERPLEXITY.label == "t2f perplexity"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"confidence_threshold": 1.5}, "confidence_threshold"),
        ({"confidence_threshold": -0.1}, "confidence_threshold"),
        ({"max_escalations": -1}, "max_escalations"),
        ({"deadline_s": 0.0}, "deadline_s"),
        ({"deadline_s": float("inf")}, "deadline_s"),
        ({"timeout_grace_s": -1.0}, "timeout_grace_s"),
    ],
)
def test_policy_refuses_settings_that_cannot_work(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RoutingPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_defaults() -> None:
    policy = RoutingPolicy()
    assert policy.tier_order == (Tier.LOCAL_INTENT, Tier.LOCAL_MODEL, Tier.CLOUD)
    assert policy.confidence_threshold == 0.6
    assert policy.freshness_routing is True
    assert policy.max_escalations == 2
    assert policy.deadline_s == 30.0


def _home_request(text: str) -> CompletionRequest:
    """What the agent sends: HA's Assist prompt, history with a tool round, tools."""
    tool = ToolSpec("HassTurnOn", "Turns on a device", {"type": "object", "properties": {}})
    return CompletionRequest(
        messages=(
            Message(role="system", content="HA Assist prompt: areas Workshop, devices ..."),
            Message(role="user", content="turn on the bench lamp"),
            Message(role="assistant", tool_calls=(ToolCall("c1", "HassTurnOn", {}),)),
            Message(role="tool", content='{"success": true}', tool_call_id="c1", name="x"),
            Message(role="assistant", content="The bench lamp is on."),
            Message(role="user", content=text),
        ),
        tools=(tool,),
    )


def test_a_lean_candidate_gets_neither_the_home_prompt_nor_its_tools() -> None:
    lean = Candidate(Tier.FRESH, "pplx", IdleProvider(ProviderKind.PERPLEXITY), Price(), False)
    lean = replace(lean, lean=True)
    asked = lean.adapt(_home_request("What's the latest Prusa firmware version?"))
    assert asked.tools == ()
    assert [m.role for m in asked.messages] == ["system", "user", "assistant", "user"]
    assert asked.messages[0].content == LEAN_INSTRUCTIONS
    assert "Workshop" not in " ".join(m.content for m in asked.messages)
    assert asked.messages[-1].content == "What's the latest Prusa firmware version?"
    # A command keeps everything: the search model may have to act.
    command = _home_request("turn off the bench lamp if it will rain today")
    assert lean.adapt(command) == command
    # Not lean (the default): unchanged.
    assert PERPLEXITY.adapt(_home_request("news?")) == _home_request("news?")
