"""The pure approval workflow: confirm, dual, self-approval, expiry, nonces, persistence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.jarvis.safety.policy import Action, Verdict
from custom_components.jarvis.safety.workflow import Request, Status, Workflow, WorkflowError

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
UNLOCK = Action("lock", "unlock", ("lock.front",))


def _new(
    flow: Workflow, verdict: Verdict = Verdict.DUAL, requester: str | None = "alice"
) -> Request:
    return flow.create(UNLOCK, verdict, requester=requester, zone="shop", reason="r", now=NOW)


def _yes(_user: str) -> bool:
    return True


def _code(err: pytest.ExceptionInfo[WorkflowError]) -> str:
    return err.value.code


def test_dual_needs_a_different_authorised_person() -> None:
    flow = Workflow()
    request = _new(flow)
    with pytest.raises(WorkflowError) as err:
        flow.approve(request.id, "alice", NOW, authorised=_yes)
    assert _code(err) == "self_approval"
    with pytest.raises(WorkflowError) as err:
        flow.approve(request.id, "mallory", NOW, authorised=lambda _u: False)
    assert _code(err) == "not_authorised"
    with pytest.raises(WorkflowError) as err:
        flow.approve(request.id, None, NOW, authorised=_yes)
    assert _code(err) == "approver_unknown"
    assert flow.get(request.id).status is Status.PENDING
    approved = flow.approve(request.id, "bob", NOW, authorised=_yes)
    assert approved.status is Status.APPROVED and approved.approvers == ["bob"]
    # Saying yes twice is not a second person, and a closed request takes no more answers.
    with pytest.raises(WorkflowError) as err:
        flow.approve(request.id, "bob", NOW, authorised=_yes)
    assert _code(err) == "request_closed"
    assert flow.finish(request.id, ok=True).status is Status.EXECUTED
    with pytest.raises(WorkflowError) as err:
        flow.finish(request.id, ok=True)
    assert _code(err) == "not_approved"


def test_confirm_is_the_requester_only() -> None:
    flow = Workflow()
    request = _new(flow, Verdict.CONFIRM)
    with pytest.raises(WorkflowError) as err:
        flow.approve(request.id, "bob", NOW, authorised=_yes)
    assert _code(err) == "confirm_by_requester"
    assert (
        flow.approve(request.id, "alice", NOW, authorised=lambda _u: False).status
        is Status.APPROVED
    )


def test_creation_rules() -> None:
    flow = Workflow()
    with pytest.raises(WorkflowError) as err:
        flow.create(UNLOCK, Verdict.ALLOW, requester="a", zone=None, reason="", now=NOW)
    assert _code(err) == "not_gated"
    with pytest.raises(WorkflowError) as err:
        _new(flow, requester=None)
    assert _code(err) == "requester_unknown"
    with pytest.raises(WorkflowError) as err:
        flow.get("nope")
    assert _code(err) == "unknown_request"


def test_expiry_and_deny() -> None:
    flow = Workflow()
    old, fresh = _new(flow), _new(flow)
    fresh.expires = NOW + timedelta(hours=1)
    later = NOW + timedelta(minutes=6)
    assert [r.id for r in flow.pending(later)] == [fresh.id]
    assert flow.get(old.id).status is Status.EXPIRED
    with pytest.raises(WorkflowError) as err:
        flow.approve(old.id, "bob", later, authorised=_yes)
    assert _code(err) == "request_expired"
    # Expiry is noticed at approval time too (no sweep in between).
    third = _new(flow)
    with pytest.raises(WorkflowError) as err:
        flow.approve(third.id, "bob", later, authorised=_yes)
    assert _code(err) == "request_expired"
    with pytest.raises(WorkflowError) as err:
        flow.deny(fresh.id, None, NOW)
    assert _code(err) == "approver_unknown"
    assert flow.deny(fresh.id, "bob", NOW).status is Status.DENIED


def test_nonces_are_one_time_and_die_with_the_request() -> None:
    flow = Workflow()
    request = _new(flow)
    nonce = flow.issue_nonce(request.id, "approve")
    assert "nonces" not in request.public()
    assert flow.redeem_nonce(request.id, nonce, NOW) == "approve"
    with pytest.raises(WorkflowError) as err:
        flow.redeem_nonce(request.id, nonce, NOW)
    assert _code(err) == "nonce_invalid"
    other = flow.issue_nonce(request.id, "deny")
    flow.approve(request.id, "bob", NOW, authorised=_yes)
    with pytest.raises(WorkflowError):
        flow.redeem_nonce(request.id, other, NOW)
    late = _new(flow)
    stale = flow.issue_nonce(late.id, "approve")
    with pytest.raises(WorkflowError):
        flow.redeem_nonce(late.id, stale, NOW + timedelta(hours=1))
    assert flow.get(late.id).status is Status.EXPIRED


def test_round_trip_and_prune() -> None:
    counter = iter(range(1000))
    flow = Workflow(new_id=lambda: f"r{next(counter)}")
    first = _new(flow)
    flow.issue_nonce(first.id, "approve")
    restored = Workflow()
    restored.load(flow.to_list())
    assert restored.get("r0").to_dict() == first.to_dict()
    for _ in range(5):
        request = _new(flow)
        flow.deny(request.id, "bob", NOW)
    flow.prune(keep=2)
    assert sorted(flow.requests) == ["r0", "r4", "r5"]
