"""The routing agent end to end in HA: T0, T1, escalation, freshness, failover, budget, ledger.

Providers are the official SDKs talking to loopback servers that speak each provider's wire
format (tests/support/fake_providers); HA, its intents and the add-on worker are real.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
import json
from typing import Any

from homeassistant.components import conversation
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.jarvis.const import CONF_BUDGET_DAILY, EVENT_ROUTING_DECISION
from custom_components.jarvis.router.policy import LEAN_INSTRUCTIONS
from tests.support.fake_providers import openai as oai, perplexity as ppx
from tests.support.fake_providers.base import Reply
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer
from tests.support.fake_providers.perplexity import RESPONSES_PATH, PerplexityServer
from tests.support.worker import Worker

from .routing_helpers import (
    AGENT_ID,
    LIGHT,
    agent,
    confident,
    provider,
    setup_shop,
    streamed,
    streamed_tool_call,
    unsure,
)


@dataclass
class Servers:
    """A local OpenAI-compatible server (t1), OpenAI's cloud (t2) and Perplexity (t2f)."""

    local: OpenAIServer
    cloud: OpenAIServer
    fresh: PerplexityServer


@pytest.fixture
async def servers() -> AsyncGenerator[Servers]:
    """The three provider servers, on loopback."""
    started = Servers(
        await OpenAIServer().start(), await OpenAIServer().start(), await PerplexityServer().start()
    )
    yield started
    for server in (started.local, started.cloud, started.fresh):
        await server.stop()


def _subentries(servers: Servers, **agent_overrides: Any) -> list[dict[str, Any]]:
    return [
        provider("llama", "openai_compatible", servers.local.base_url),
        provider("gpt", "openai", servers.cloud.base_url, price_in=1.0, price_out=4.0),
        provider("pplx", "perplexity", servers.fresh.url, model="fast-search"),
        agent(**agent_overrides),
    ]


async def _ask(
    hass: HomeAssistant, text: str, conversation_id: str | None = None
) -> conversation.ConversationResult:
    return await conversation.async_converse(
        hass, text, conversation_id, Context(), language="en", agent_id=AGENT_ID
    )


def _speech(result: conversation.ConversationResult) -> str:
    return str(result.response.speech["plain"]["speech"])


async def _log(hass: HomeAssistant, **filters: Any) -> list[dict[str, Any]]:
    response = await hass.services.async_call(
        "jarvis", "get_routing_log", filters, blocking=True, return_response=True
    )
    return list(response["decisions"])  # type: ignore[index]


async def test_t0_device_command_runs_locally(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
) -> None:
    """HA's own intent turns the light on; no model is asked."""
    local, cloud = servers.local, servers.cloud
    shop = await setup_shop(hass, session_worker, _subentries(servers))
    events = async_capture_events(hass, EVENT_ROUTING_DECISION)
    result = await _ask(hass, "turn on the kitchen light")
    assert result.response.response_type.value == "action_done"
    assert [c.data["entity_id"] for c in shop.light_on_calls] == [[LIGHT]]
    assert not local.requests and not cloud.requests
    (decision,) = await _log(hass)
    assert decision["tier"] == "t0"
    assert decision["outcome"] == "action_done"
    assert decision["cost_usd"] == 0
    assert events[0].data["id"] == decision["id"]


async def test_t0_answers_state_queries(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
) -> None:
    """Unlike HA's prefer-local pipeline, state questions stay local too."""
    local, cloud = servers.local, servers.cloud
    await setup_shop(hass, session_worker, _subentries(servers))
    result = await _ask(hass, "is the kitchen light on?")
    assert "off" in _speech(result).lower() or "no" in _speech(result).lower()
    assert not local.requests and not cloud.requests
    assert (await _log(hass))[0]["tier"] == "t0"


async def test_a_question_matching_only_a_wildcard_goes_to_the_models(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
) -> None:
    """HA's "who is [in] [the] {zone}" takes any words, and would answer "Not any"."""
    local = servers.local
    await setup_shop(hass, session_worker, _subentries(servers))
    hass.states.async_set("zone.home", "0", {"friendly_name": "Home"})
    hass.states.async_set("person.ada", "not_home", {"friendly_name": "Ada"})
    local.script(CHAT_PATH, Reply(json=confident("Ask the workshop manager.")))
    result = await _ask(hass, "who is the night shift lead")
    assert _speech(result) == "Ask the workshop manager."
    (decision,) = await _log(hass)
    assert decision["tier"] == "t1"
    assert decision["attempts"][0]["tier"] == "t0"
    assert decision["attempts"][0]["outcome"] == "no_match"
    # A real zone is still T0's: HA answers who is there, no model is asked.
    result = await _ask(hass, "who is home")
    assert len(local.requests_to(CHAT_PATH)) == 1
    assert (await _log(hass, limit=1))[0]["tier"] == "t0"


async def test_t1_confident_answer_is_accepted(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
) -> None:
    local, cloud = servers.local, servers.cloud
    await setup_shop(hass, session_worker, _subentries(servers))
    local.script(CHAT_PATH, Reply(json=confident("A bracket holds a pipe to a wall.")))
    result = await _ask(hass, "what does a pipe bracket do")
    assert _speech(result) == "A bracket holds a pipe to a wall."
    assert not cloud.requests
    sent = local.requests_to(CHAT_PATH)[0].json
    assert sent["logprobs"] is True
    assert any(t["function"]["name"] == "HassTurnOn" for t in sent["tools"])
    (decision,) = await _log(hass)
    assert decision["tier"] == "t1"
    assert decision["confidence"] >= 0.6
    assert decision["attempts"][-1]["outcome"] == "accepted"
    assert "logprob" in json.dumps(decision["attempts"][-1]["confidence"])


async def test_low_confidence_escalates_to_cloud(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
) -> None:
    local, cloud = servers.local, servers.cloud
    await setup_shop(hass, session_worker, _subentries(servers))
    local.script(CHAT_PATH, Reply(json=unsure("Maybe about forty two I think")))
    cloud.script(CHAT_PATH, streamed("PLA prints at about 200 °C.", oai.usage(1000, 10)))
    result = await _ask(hass, "what temperature does PLA print at")
    assert _speech(result) == "PLA prints at about 200 °C."
    # The cloud was the last candidate, so its answer streamed; the local one was buffered.
    assert cloud.requests_to(CHAT_PATH)[0].json["stream"] is True
    assert local.requests_to(CHAT_PATH)[0].json.get("stream") in (None, False)
    (decision,) = await _log(hass)
    assert decision["tier"] == "t2"
    assert [a["outcome"] for a in decision["attempts"] if a["tier"] != "t0"] == [
        "low_confidence",
        "accepted",
    ]
    # 1000 in x $1/M + 10 out x $4/M
    assert decision["cost_usd"] == pytest.approx(0.00104)
    assert decision["tokens_in"] >= 1000


async def test_invalid_tool_call_is_never_executed(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
) -> None:
    """SmolLM2-style call naming a non-existent entity: escalated, and only the cloud's valid call runs, once."""
    local, cloud = servers.local, servers.cloud
    shop = await setup_shop(hass, session_worker, _subentries(servers))
    local.script(
        CHAT_PATH,
        Reply(json=confident_tool_call("HassTurnOn", {"name": "namen", "area": "aarea"})),
    )
    cloud.script(
        CHAT_PATH,
        streamed_tool_call("c1", "HassTurnOn", {"name": "Kitchen light"}),
        Reply(json=oai.completion("The kitchen light is on.")),
    )
    # Not a sentence HA's intents know, so T0 passes it on.
    result = await _ask(hass, "kitchen light please, brighten up the bench")
    assert _speech(result) == "The kitchen light is on."
    assert [c.data["entity_id"] for c in shop.light_on_calls] == [[LIGHT]]
    (decision,) = await _log(hass)
    assert decision["tier"] == "t2"
    outcomes = [a["outcome"] for a in decision["attempts"] if a["tier"] != "t0"]
    assert outcomes == ["invalid_tool_call", "accepted"]
    assert [t["name"] for t in decision["tool_calls_executed"]] == ["HassTurnOn"]
    assert decision["outcome"] == "action_done"
    # The second cloud round saw the tool result (shared ChatLog).
    follow_up = cloud.requests_to(CHAT_PATH)[1].json
    assert any(m["role"] == "tool" for m in follow_up["messages"])


def confident_tool_call(name: str, args: dict[str, Any]) -> Any:
    return oai.completion(
        None,
        tool_calls=[oai.tool_call("l1", name, json.dumps(args))],
        finish_reason="tool_calls",
        logprobs=[oai.token_logprob("x", -0.01, [("x", -0.01), ("y", -7.0)])],
    )


async def test_fresh_facts_go_to_perplexity(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
) -> None:
    local, cloud, fresh = servers.local, servers.cloud, servers.fresh
    await setup_shop(hass, session_worker, _subentries(servers))
    final = ppx.response(
        [
            ppx.message_item(
                "Lando Norris won [1].",
                [ppx.annotation("https://news.example/race", "Race report", 18, 21)],
            )
        ],
        usage_body=ppx.usage(900, 30, total_cost=0.0061),
    )
    # Perplexity goes first and the cloud would follow it, so its answer is buffered (not streamed).
    fresh.script(RESPONSES_PATH, Reply(json=final))
    result = await _ask(hass, "who won the formula 1 race yesterday?")
    assert _speech(result).startswith("Lando Norris won")
    assert not local.requests and not cloud.requests
    (decision,) = await _log(hass)
    assert decision["tier"] == "t2f"
    assert decision["freshness"]["needs_fresh"] is True
    assert decision["cost_usd"] == pytest.approx(0.0061)
    # The search got a short instruction and the question: not the home's prompt, not its tools.
    (sent,) = fresh.requests_to(RESPONSES_PATH)
    assert sent.json["instructions"] == LEAN_INSTRUCTIONS
    assert "tools" not in sent.json
    assert "kitchen" not in sent.body.decode().casefold()  # the exposed light's name
    assert sent.json["input"][-1]["content"] == "who won the formula 1 race yesterday?"


async def test_provider_outage_fails_over(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
) -> None:
    local, cloud = servers.local, servers.cloud
    await setup_shop(hass, session_worker, _subentries(servers))
    local.script(CHAT_PATH, oai.error_reply(500, "model crashed", "server_error"))
    cloud.script(CHAT_PATH, streamed("Still here."))
    result = await _ask(hass, "say something nice")
    assert _speech(result) == "Still here."
    (decision,) = await _log(hass)
    first = next(a for a in decision["attempts"] if a["tier"] == "t1")
    assert first["outcome"] == "error"
    assert first["error_type"] == "ProviderUnavailableError"
    assert decision["tier"] == "t2"


async def test_budget_exhausted_answers_locally_and_says_so(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
) -> None:
    local, cloud = servers.local, servers.cloud
    await setup_shop(hass, session_worker, _subentries(servers, **{CONF_BUDGET_DAILY: 0.0}))
    # Cloud is over budget, so the local model is the last candidate: it streams.
    local.script(CHAT_PATH, streamed("Probably steel I guess"))
    result = await _ask(hass, "what is a good bracket material")
    assert _speech(result).startswith("Probably steel I guess")
    assert "budget" in _speech(result)
    assert not cloud.requests
    (decision,) = await _log(hass)
    assert decision["outcome"] == "budget_fallback"
    assert any(a["outcome"] == "skipped_budget" for a in decision["attempts"])


@pytest.mark.parametrize(
    ("text", "problem"), [("   ", "did not get any text"), ("x" * 9000, "9000 characters")]
)
async def test_bad_input_is_refused_and_logged(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
    text: str,
    problem: str,
) -> None:
    local, cloud = servers.local, servers.cloud
    await setup_shop(hass, session_worker, _subentries(servers))
    result = await _ask(hass, text)
    assert result.response.response_type.value == "error"
    assert problem in _speech(result)
    assert not local.requests and not cloud.requests
    (decision,) = await _log(hass)
    assert decision["outcome"] == "rejected_input"


async def test_malformed_provider_reply_escalates(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
) -> None:
    local, cloud = servers.local, servers.cloud
    await setup_shop(hass, session_worker, _subentries(servers))
    local.script(CHAT_PATH, Reply(text='{"choices": [', content_type="application/json"))
    cloud.script(CHAT_PATH, streamed("Recovered."))
    assert _speech(await _ask(hass, "tell me about nozzles")) == "Recovered."
    (decision,) = await _log(hass)
    assert next(a for a in decision["attempts"] if a["tier"] == "t1")["outcome"] == "error"


async def test_every_provider_down(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
) -> None:
    local, cloud = servers.local, servers.cloud
    await setup_shop(hass, session_worker, _subentries(servers))
    local.script(CHAT_PATH, oai.error_reply(503, "loading", "server_error"))
    cloud.script(CHAT_PATH, oai.error_reply(401, "bad key", "invalid_request_error"))
    result = await _ask(hass, "tell me about nozzles")
    assert result.response.response_type.value == "error"
    (decision,) = await _log(hass)
    assert decision["outcome"] == "error"
    assert {a["error_type"] for a in decision["attempts"] if a["tier"] in ("t1", "t2")} == {
        "ProviderUnavailableError",
        "ProviderAuthError",
    }


async def test_rejected_api_key_raises_a_repair_issue_until_it_works(
    hass: HomeAssistant, session_worker: Worker, servers: Servers
) -> None:
    """Reauth for bad keys: a translated repair issue names the provider; it clears on success."""
    local, cloud = servers.local, servers.cloud
    await setup_shop(hass, session_worker, _subentries(servers))
    local.script(CHAT_PATH, Reply(json=unsure("Hmm maybe")))
    cloud.script(CHAT_PATH, oai.error_reply(401, "Incorrect API key", "invalid_request_error"))
    await _ask(hass, "what is the best nozzle size")
    issues = ir.async_get(hass).issues
    (issue,) = [i for (domain, _), i in issues.items() if domain == "jarvis"]
    assert issue.translation_key == "provider_auth_failed"
    assert issue.translation_placeholders == {"provider": "gpt"}

    local.script(CHAT_PATH, Reply(json=unsure("Hmm maybe")))
    cloud.script(CHAT_PATH, streamed("0.4 mm."))
    assert _speech(await _ask(hass, "what is the best nozzle size")) == "0.4 mm."
    assert not [k for k in ir.async_get(hass).issues if k[0] == "jarvis"]


async def test_long_text_skips_t0(
    hass: HomeAssistant, session_worker: Worker, servers: Servers
) -> None:
    """HA's intent matcher is slow on long text (seconds, blocking its loop): long requests skip it."""
    await setup_shop(hass, session_worker, _subentries(servers))
    servers.local.script(CHAT_PATH, Reply(json=confident("Noted.")))
    text = "turn on the kitchen light " + "and remember the long story " * 12
    assert _speech(await _ask(hass, text)) == "Noted."
    (decision,) = await _log(hass)
    assert decision["attempts"][0] == {
        "tier": "t0",
        "name": "conversation.home_assistant",
        "outcome": "skipped_long_text",
    }
    assert decision["tier"] == "t1"


async def test_cloud_first_order_asks_the_cloud_and_falls_back_to_the_local_model(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
) -> None:
    """tier_order cloud_first: t0, then the cloud; the local model only when the cloud fails."""
    local, cloud = servers.local, servers.cloud
    cloud.script(CHAT_PATH, Reply(json=oai.completion("Cloud answer.")))
    cloud.script(CHAT_PATH, Reply(status=503, json={"error": {"message": "overloaded"}}))
    local.script(CHAT_PATH, streamed("Local answer."))
    await setup_shop(hass, session_worker, _subentries(servers, tier_order="cloud_first"))
    assert _speech(await _ask(hass, "tell me a workshop joke")) == "Cloud answer."
    assert not local.requests
    assert _speech(await _ask(hass, "tell me another workshop joke")) == "Local answer."
    newest = (await _log(hass))[0]
    assert [(a["tier"], a["outcome"]) for a in newest["attempts"]] == [
        ("t0", "no_match"),
        ("t2", "error"),
        ("t1", "accepted"),
    ]


async def test_a_spoken_request_gets_a_short_answer(
    hass: HomeAssistant,
    session_worker: Worker,
    servers: Servers,
) -> None:
    """From a voice satellite: the models are told the answer is read aloud, and capped."""
    local = servers.local
    local.script(CHAT_PATH, Reply(json=confident("Forty two.")), Reply(json=confident("Typed.")))
    await setup_shop(hass, session_worker, _subentries(servers))
    spoken = await conversation.async_converse(
        hass,
        "what is the meaning of life",
        None,
        Context(),
        language="en",
        agent_id=AGENT_ID,
        satellite_id="assist_satellite.workshop",
    )
    assert _speech(spoken) == "Forty two."
    sent = local.requests_to(CHAT_PATH)[0].json
    assert "read aloud" in sent["messages"][0]["content"]
    assert sent["max_tokens"] == 160
    await _ask(hass, "what is the meaning of life, typed")
    typed = local.requests_to(CHAT_PATH)[1].json
    assert "read aloud" not in typed["messages"][0]["content"]
    assert typed["max_tokens"] == 512
