"""Spoken confirmations: "yes" / "no" right after Jarvis said a request is waiting (HA glue).

A gated tool call leaves its pending request's id in the turn's tool results. The agent keeps
those ids per conversation for exactly one more turn (`PendingAsks`); when that turn is a bare
yes or no, it is answered here, before routing: the yes goes to the gate's own `async_approve`
(same checks, signing, audit and execution as `jarvis.approve`), the no to `async_deny`. Who may
say yes is the gate's rule, not ours: a confirm request takes only its requester's yes, a dual
request only a different authorised person's. A yes anywhere else (another conversation, or
after an unrelated turn, when it may answer some other question) is just text for the router.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from homeassistant.components import conversation
from homeassistant.core import HomeAssistant

from ..safety.gate import GateError, SafetyGate, async_get_gate
from ..safety.policy import Action, Verdict
from ..safety.workflow import Request, Status
from .replies import Reply, classify, pending_request_ids

VIA = "conversation"


@dataclass(frozen=True, slots=True)
class SpokenAnswer:
    """What the agent says to a yes / no, and what it did (for the ledger)."""

    speech: str
    outcome: str  # action_done | answered | refused
    reason: str
    request_ids: tuple[str, ...]
    still_pending: tuple[str, ...]  # refused yeses leave the request open: a later yes may do


def asked_in_this_turn(chat_log: conversation.ChatLog) -> list[str]:
    """Pending request ids from the tool results since the current message."""
    results = []
    for item in reversed(chat_log.content):
        if isinstance(item, conversation.UserContent):
            break
        if isinstance(item, conversation.ToolResultContent):
            results.append(item.tool_result)
    return pending_request_ids(reversed(results))


class PendingAsks:
    """Per conversation, the requests its last turn asked about (bounded, in memory).

    In memory like HA's ChatLog: after a restart the pending requests are still in the gate
    (jarvis.approve works), only the spoken shortcut to them is gone.
    """

    def __init__(self, size: int = 256) -> None:
        """Remember at most `size` conversations."""
        self._asks: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._size = size

    def get(self, conversation_id: str) -> tuple[str, ...]:
        """The request ids the conversation's last turn left waiting for an answer."""
        return self._asks.get(conversation_id, ())

    def set(self, conversation_id: str, request_ids: Sequence[str]) -> None:
        """What this turn asked about (nothing: a later yes is not about old requests)."""
        self._asks.pop(conversation_id, None)
        if request_ids:
            self._asks[conversation_id] = tuple(request_ids)
            if len(self._asks) > self._size:
                self._asks.popitem(last=False)


def spoken(action: Action) -> str:
    """`turn on Laser cutter`, for saying out loud."""
    what = action.names[0] if action.names else ", ".join(action.targets)
    verb = action.service.replace("_", " ")
    return f"{verb} {what}".strip()


async def async_answer(
    hass: HomeAssistant, user_input: conversation.ConversationInput, asked: Sequence[str]
) -> SpokenAnswer | None:
    """The answer to a bare yes / no about the requests just asked about, or None (route it)."""
    reply = classify(user_input.text)
    if reply is None or not asked:
        return None
    gate = async_get_gate(hass)
    if gate is None:
        return None
    requests = [
        request for rid in asked if (request := gate.workflow.requests.get(rid)) is not None
    ]
    if not requests:
        return None
    user_id = user_input.context.user_id
    said: list[str] = []
    outcomes: list[str] = []
    for request in requests:
        text, outcome = await _decide(gate, request, reply, user_id)
        said.append(text)
        outcomes.append(outcome)
    outcome = (
        "action_done"
        if "action_done" in outcomes
        else "refused"
        if "refused" in outcomes
        else "answered"
    )
    return SpokenAnswer(
        speech=" ".join(said),
        outcome=outcome,
        reason=f"spoken {reply.value} to pending safety request(s) of the previous turn",
        request_ids=tuple(r.id for r in requests),
        still_pending=tuple(r.id for r in requests if r.status is Status.PENDING),
    )


async def _decide(
    gate: SafetyGate, request: Request, reply: Reply, user_id: str | None
) -> tuple[str, str]:
    """Hand one request's yes / no to the gate; what to say and the ledger outcome."""
    what = spoken(request.action)
    if request.status is not Status.PENDING and request.status is not Status.EXPIRED:
        return f"That request is already {request.status.value}.", "answered"
    try:
        if reply is Reply.NO:
            await gate.async_deny(request.id, user_id, via=VIA)
            return f"Cancelled: I will not {what}.", "answered"
        await gate.async_approve(request.id, user_id, via=VIA)
    except GateError as err:
        return _refusal(err, request, what), "refused"
    return f"Done: {what}.", "action_done"


def _refusal(err: GateError, request: Request, what: str) -> str:
    """A short spoken reason for each of the gate's refusals of a yes / no."""
    if err.code == "self_approval":
        return (
            f"You asked to {what}, so your yes is not a second person. Another authorised "
            f"person must approve request {request.id}."
        )
    if err.code == "confirm_by_requester":
        return f"Only the person who asked can confirm: {what} is still waiting for them."
    if err.code == "approver_unknown":
        return f"I need to know who you are to decide this; {what} is still waiting."
    if err.code == "not_authorised":
        return f"You may not approve this; {what} is still waiting for an authorised person."
    if err.code == "request_expired":
        return f"Too late: the request to {what} has expired. Ask again."
    if err.code == "execution_failed":
        return f"Confirmed, but {what} failed: {err.reason}."
    return f"I could not do that: {err.reason}."


def awaits_spoken_yes(
    hass: HomeAssistant, chat_log: conversation.ChatLog, user_id: str | None
) -> bool:
    """True when this turn left a confirm request that this user can answer with a yes.

    The agent then keeps the conversation open, so a voice satellite listens for the answer.
    """
    gate = async_get_gate(hass)
    if gate is None or user_id is None:
        return False
    for rid in asked_in_this_turn(chat_log):
        request = gate.workflow.requests.get(rid)
        if (
            request is not None
            and request.status is Status.PENDING
            and request.verdict is Verdict.CONFIRM
            and request.requester == user_id
        ):
            return True
    return False
