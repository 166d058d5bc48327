"""Spoken confirmations in real HA with the real gate: "yes" / "no" answer the last question.

The cloud model (loopback OpenAI server) calls a gated tool; the gate opens a request; the next
turn's bare yes / no goes through the gate's own approve / deny (signed token, audit), without a
model call. A yes elsewhere, by the wrong person, or after another turn does not approve.
"""

from __future__ import annotations

from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import Context, HomeAssistant
from homeassistant.util import dt as dt_util
import pytest

from custom_components.jarvis.safety.gate import GateError
from custom_components.jarvis.safety.policy import Action, Verdict
from custom_components.jarvis.safety.workflow import Request, Status
from custom_components.jarvis.voice.confirm import PendingAsks, _refusal, async_answer
from tests.support.fake_providers import openai as oai
from tests.support.fake_providers.base import Reply
from tests.support.fake_providers.openai import CHAT_PATH, OpenAIServer
from tests.support.fake_unifi_access import FakeUnifiAccess
from tests.support.worker import Worker

from ..routing_helpers import streamed, streamed_tool_call
from ..safety.helpers import Workshop, ask, audit, call, rule, setup_workshop

LIGHTS = "switch.decorative_lights"


@pytest.fixture
async def shop(
    hass: HomeAssistant, session_worker: Worker, cloud: OpenAIServer, unifi: FakeUnifiAccess
) -> Workshop:
    """The workshop, with the decorative lights exposed and needing the requester's yes."""
    shop = await setup_workshop(
        hass,
        session_worker,
        cloud,
        unifi,
        extra=[rule(name="lights need a yes", verdict="confirm", targets=[LIGHTS])],
    )
    async_expose_entity(hass, conversation.DOMAIN, LIGHTS, True)
    # HA's demo starts with these lights on.
    await hass.services.async_call("switch", "turn_off", {"entity_id": LIGHTS}, blocking=True)
    return shop


def _speech(result: conversation.ConversationResult) -> str:
    return str(result.response.speech["plain"]["speech"])


async def _asked(
    hass: HomeAssistant, shop: Workshop, name: str, reply: str
) -> conversation.ConversationResult:
    """Alice asks; the model calls HassTurnOn on `name`; the gate holds it as a request."""
    shop.cloud.script(
        CHAT_PATH,
        streamed_tool_call("c1", "HassTurnOn", {"name": name}),
        Reply(json=oai.completion(reply)),
    )
    return await ask(hass, f"turn on the {name}", shop.alice)


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def test_yes_confirms_the_pending_request(hass: HomeAssistant, shop: Workshop) -> None:
    asked = await _asked(hass, shop, "Decorative Lights", "They need your confirmation.")
    (pending,) = shop.gate.pending()
    assert pending.verdict.value == "confirm" and pending.requester == shop.alice.id
    # The answer does not end in "?", yet the conversation stays open for the spoken yes.
    assert asked.continue_conversation
    calls = len(shop.cloud.requests_to(CHAT_PATH))

    done = await ask(hass, "Yes, please.", shop.alice, asked.conversation_id)
    assert _speech(done) == "Done: turn on Decorative Lights."
    assert not done.continue_conversation
    assert len(shop.cloud.requests_to(CHAT_PATH)) == calls  # no model was asked
    assert _state(hass, LIGHTS) == "on"
    assert shop.gate.workflow.get(pending.id).status is Status.EXECUTED
    records = await audit(hass, shop.bob, request_id=pending.id)
    assert [r["kind"] for r in records] == ["requested", "approved", "executed"]
    assert records[1]["data"]["reason"] == "approved via conversation"
    assert records[1]["data"]["by"] == shop.alice.id
    assert records[2]["data"]["alg"] == "EdDSA" and records[2]["data"]["signature"]
    # The answer is in the conversation (for the next model turn) and in the ledger.
    log = await hass.services.async_call(
        "jarvis", "get_routing_log", {"limit": 1}, blocking=True, return_response=True
    )
    assert isinstance(log, dict)
    (decision,) = log["decisions"]
    assert decision["provider"] == "safety_confirmation"
    assert decision["outcome"] == "action_done"
    # Saying yes again is just text now: the question was answered.
    shop.cloud.script(CHAT_PATH, streamed("Yes to what?"))
    again = await ask(hass, "yes", shop.alice, asked.conversation_id)
    assert _speech(again) == "Yes to what?"


@pytest.mark.parametrize("answer", ["no", "Cancel that."])
async def test_no_cancels_it(hass: HomeAssistant, shop: Workshop, answer: str) -> None:
    asked = await _asked(hass, shop, "Decorative Lights", "They need your confirmation.")
    (pending,) = shop.gate.pending()
    result = await ask(hass, answer, shop.alice, asked.conversation_id)
    assert _speech(result) == "Cancelled: I will not turn on Decorative Lights."
    assert _state(hass, LIGHTS) == "off"
    assert shop.gate.workflow.get(pending.id).status is Status.DENIED
    records = await audit(hass, shop.bob, request_id=pending.id)
    assert [r["kind"] for r in records] == ["requested", "denied"]
    assert records[1]["data"]["reason"] == "denied via conversation"


async def test_yes_in_another_conversation_or_by_another_user_does_not_confirm(
    hass: HomeAssistant, shop: Workshop
) -> None:
    asked = await _asked(hass, shop, "Decorative Lights", "They need your confirmation.")
    (pending,) = shop.gate.pending()
    # Another conversation of the same user: the yes is ordinary text for the model.
    shop.cloud.script(CHAT_PATH, streamed("Yes to what?"))
    elsewhere = await ask(hass, "yes", shop.alice)
    assert elsewhere.conversation_id != asked.conversation_id
    assert _speech(elsewhere) == "Yes to what?"
    assert shop.gate.workflow.get(pending.id).status is Status.PENDING
    # Bob in Alice's conversation: the gate refuses (a confirm is the requester's), audited.
    bob = await ask(hass, "confirm", shop.bob, asked.conversation_id)
    assert _speech(bob) == (
        "Only the person who asked can confirm: turn on Decorative Lights is still waiting for them."
    )
    assert shop.gate.workflow.get(pending.id).status is Status.PENDING
    records = await audit(hass, shop.bob, request_id=pending.id)
    assert records[-1]["kind"] == "refused"
    assert records[-1]["data"]["code"] == "confirm_by_requester"
    assert records[-1]["data"]["via"] == "conversation"
    assert _state(hass, LIGHTS) == "off"
    # The refused yes left the question open: Alice's own yes still counts.
    done = await ask(hass, "do it", shop.alice, asked.conversation_id)
    assert _speech(done) == "Done: turn on Decorative Lights."
    assert _state(hass, LIGHTS) == "on"


async def test_yes_after_an_unrelated_turn_is_not_an_answer(
    hass: HomeAssistant, shop: Workshop
) -> None:
    """A yes may answer the model's own question ("want a joke?"): never a stale request."""
    asked = await _asked(hass, shop, "Decorative Lights", "They need your confirmation.")
    (pending,) = shop.gate.pending()
    shop.cloud.script(CHAT_PATH, streamed("Want to hear a joke?"))
    await ask(hass, "what can you do", shop.alice, asked.conversation_id)
    shop.cloud.script(CHAT_PATH, streamed("Why did the printer jam?"))
    joke = await ask(hass, "yes", shop.alice, asked.conversation_id)
    assert _speech(joke) == "Why did the printer jam?"
    assert shop.gate.workflow.get(pending.id).status is Status.PENDING
    assert _state(hass, LIGHTS) == "off"


async def test_dual_control_needs_a_second_person(hass: HomeAssistant, shop: Workshop) -> None:
    asked = await _asked(hass, shop, "Laser cutter", "A second person must approve that.")
    (pending,) = shop.gate.pending()
    assert pending.verdict.value == "dual"
    # Nobody but the requester can answer a dual request by voice: no need to keep listening.
    assert not asked.continue_conversation
    mine = await ask(hass, "yes", shop.alice, asked.conversation_id)
    assert _speech(mine) == (
        "You asked to turn on Laser cutter, so your yes is not a second person. Another "
        f"authorised person must approve request {pending.id}."
    )
    carol = await ask(hass, "yes", shop.carol, asked.conversation_id)
    assert "may not approve" in _speech(carol)
    assert _state(hass, shop.laser) == "off"
    assert shop.gate.workflow.get(pending.id).status is Status.PENDING
    codes = [r["data"].get("code") for r in await audit(hass, shop.bob, request_id=pending.id)]
    assert codes[-2:] == ["self_approval", "not_authorised"]
    # A second, authorised person at the same conversation (e.g. the same tablet) approves.
    bob = await ask(hass, "approve", shop.bob, asked.conversation_id)
    assert _speech(bob) == "Done: turn on Laser cutter."
    assert _state(hass, shop.laser) == "on"


async def test_yes_after_the_request_expired(hass: HomeAssistant, shop: Workshop) -> None:
    asked = await _asked(hass, shop, "Decorative Lights", "They need your confirmation.")
    (pending,) = shop.gate.pending()
    pending.expires = pending.created  # as if five minutes had passed
    late = await ask(hass, "yes", shop.alice, asked.conversation_id)
    assert (
        _speech(late)
        == "Too late: the request to turn on Decorative Lights has expired. Ask again."
    )
    assert shop.gate.workflow.get(pending.id).status is Status.EXPIRED
    assert _state(hass, LIGHTS) == "off"


async def test_yes_without_a_known_user(hass: HomeAssistant, shop: Workshop) -> None:
    """A satellite without a signed-in user cannot decide: the gate needs a person."""
    asked = await _asked(hass, shop, "Decorative Lights", "They need your confirmation.")
    (pending,) = shop.gate.pending()
    result = await conversation.async_converse(
        hass,
        "yes",
        asked.conversation_id,
        Context(),
        language="en",
        agent_id="conversation.jarvis",
    )
    assert _speech(result) == (
        "I need to know who you are to decide this; turn on Decorative Lights is still waiting."
    )
    assert shop.gate.workflow.get(pending.id).status is Status.PENDING


async def test_yes_after_it_was_approved_elsewhere(hass: HomeAssistant, shop: Workshop) -> None:
    """Approved meanwhile by the service (or a notification): the yes is told so, nothing runs twice."""
    asked = await _asked(hass, shop, "Decorative Lights", "They need your confirmation.")
    (pending,) = shop.gate.pending()
    await call(hass, "approve", {"request_id": pending.id}, shop.alice)
    late = await ask(hass, "yes", shop.alice, asked.conversation_id)
    assert _speech(late) == "That request is already executed."
    kinds = [r["kind"] for r in await audit(hass, shop.bob, request_id=pending.id)]
    assert kinds == ["requested", "approved", "executed"]


async def test_confirmed_but_the_action_fails(hass: HomeAssistant, shop: Workshop) -> None:
    asked = await _asked(hass, shop, "Decorative Lights", "They need your confirmation.")
    (pending,) = shop.gate.pending()
    hass.services.async_remove("switch", "turn_on")  # the switch integration went away
    result = await ask(hass, "yes", shop.alice, asked.conversation_id)
    assert _speech(result).startswith("Confirmed, but turn on Decorative Lights failed: ")
    assert shop.gate.workflow.get(pending.id).status is Status.FAILED
    records = await audit(hass, shop.bob, request_id=pending.id)
    assert [r["kind"] for r in records] == ["requested", "approved", "failed"]


async def test_unknown_requests_and_other_refusals(hass: HomeAssistant, shop: Workshop) -> None:
    """Ids the gate no longer knows are not a question; any other refusal is said as it is."""
    user_input = conversation.ConversationInput(
        text="yes",
        context=Context(user_id=shop.alice.id),
        conversation_id=None,
        device_id=None,
        satellite_id=None,
        language="en",
        agent_id="conversation.jarvis",
    )
    assert await async_answer(hass, user_input, ["pruned-long-ago"]) is None
    assert await async_answer(hass, user_input, []) is None
    request = Request(
        id="r1",
        action=Action(domain="switch", service="turn_on", targets=(LIGHTS,)),
        verdict=Verdict.CONFIRM,
        requester=shop.alice.id,
        zone=None,
        reason="test",
        created=dt_util.utcnow(),
        expires=dt_util.utcnow(),
    )
    refusal = _refusal(
        GateError("audit_unavailable", "the audit log is not writable"), request, "x"
    )
    assert refusal == "I could not do that: the audit log is not writable."


async def test_without_jarvis_a_yes_is_just_text(hass: HomeAssistant) -> None:
    user_input = conversation.ConversationInput(
        text="yes",
        context=Context(),
        conversation_id=None,
        device_id=None,
        satellite_id=None,
        language="en",
        agent_id=None,
    )
    assert await async_answer(hass, user_input, ["r1"]) is None


def test_pending_asks_are_per_conversation_and_bounded() -> None:
    asks = PendingAsks(size=2)
    asks.set("a", ["r1"])
    asks.set("b", ["r2", "r3"])
    assert asks.get("a") == ("r1",) and asks.get("b") == ("r2", "r3")
    asks.set("c", ["r4"])  # the oldest conversation is forgotten
    assert asks.get("a") == () and asks.get("c") == ("r4",)
    asks.set("b", [])  # a turn that asked nothing clears the question
    assert asks.get("b") == ()
