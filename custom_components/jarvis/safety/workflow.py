"""Approval workflow for gated actions: pending -> approved / denied / expired. Pure.

Confirm: the requester says yes again. Dual: a different authorised person approves; the same
person saying yes twice is still one person. Mobile notifications carry one-time nonces: a nonce
works once, for its own request, and only until the request is resolved or expires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
import secrets
from typing import Any
import uuid

from .policy import Action, Verdict

DEFAULT_EXPIRY = timedelta(minutes=5)


class Status(StrEnum):
    """Where a request stands."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    EXECUTED = "executed"
    FAILED = "failed"


class WorkflowError(Exception):
    """A refused step: `code` is a translation key, the message says why in words."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the code for translations and the audit log."""
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class Request:
    """One gated action waiting for people."""

    id: str
    action: Action
    verdict: Verdict
    requester: str | None
    zone: str | None
    reason: str
    created: datetime
    expires: datetime
    status: Status = Status.PENDING
    approvers: list[str] = field(default_factory=list)
    decided_by: str | None = None
    nonces: dict[str, str] = field(default_factory=dict)  # nonce -> what it does (approve/deny)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    source: str = "service"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (storage, services, the sensor's attributes)."""
        return {
            "id": self.id,
            "action": self.action.to_dict(),
            "verdict": self.verdict.value,
            "requester": self.requester,
            "zone": self.zone,
            "reason": self.reason,
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat(),
            "status": self.status.value,
            "approvers": list(self.approvers),
            "decided_by": self.decided_by,
            "nonces": dict(self.nonces),
            "evidence": list(self.evidence),
            "source": self.source,
        }

    def public(self) -> dict[str, Any]:
        """What dashboards and services may show (no nonces)."""
        data = self.to_dict()
        del data["nonces"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Request:
        """Inverse of to_dict."""
        return cls(
            id=str(data["id"]),
            action=Action.from_dict(data["action"]),
            verdict=Verdict(data["verdict"]),
            requester=data.get("requester"),
            zone=data.get("zone"),
            reason=str(data.get("reason", "")),
            created=datetime.fromisoformat(data["created"]),
            expires=datetime.fromisoformat(data["expires"]),
            status=Status(data["status"]),
            approvers=list(data.get("approvers", ())),
            decided_by=data.get("decided_by"),
            nonces=dict(data.get("nonces", {})),
            evidence=list(data.get("evidence", ())),
            source=str(data.get("source", "service")),
        )


class Workflow:
    """The open and recent requests, and the rules for moving them on."""

    def __init__(self, new_id: Callable[[], str] | None = None) -> None:
        """No requests yet."""
        self.requests: dict[str, Request] = {}
        self._new_id = new_id or (lambda: uuid.uuid4().hex[:16])

    def create(
        self,
        action: Action,
        verdict: Verdict,
        *,
        requester: str | None,
        zone: str | None,
        reason: str,
        now: datetime,
        expiry: timedelta = DEFAULT_EXPIRY,
        source: str = "service",
    ) -> Request:
        """A new pending request for an action that needs confirm or dual."""
        if verdict not in (Verdict.CONFIRM, Verdict.DUAL):
            raise WorkflowError("not_gated", f"{verdict.value} actions need no approval")
        if requester is None:
            # Without a person there is nobody to confirm and nobody to tell apart from.
            raise WorkflowError("requester_unknown", "a gated action needs a signed-in requester")
        request = Request(
            id=self._new_id(),
            action=action,
            verdict=verdict,
            requester=requester,
            zone=zone,
            reason=reason,
            created=now,
            expires=now + expiry,
            source=source,
        )
        self.requests[request.id] = request
        return request

    def get(self, request_id: str) -> Request:
        """The request; WorkflowError when the id is unknown."""
        try:
            return self.requests[request_id]
        except KeyError:
            raise WorkflowError("unknown_request", f"there is no request {request_id!r}") from None

    def pending(self, now: datetime) -> list[Request]:
        """Open requests, oldest first (expired ones are moved to EXPIRED first)."""
        self.expire(now)
        return sorted(
            (r for r in self.requests.values() if r.status is Status.PENDING),
            key=lambda r: r.created,
        )

    def expire(self, now: datetime) -> list[Request]:
        """Mark overdue pending requests expired; return them."""
        expired = []
        for request in self.requests.values():
            if request.status is Status.PENDING and now >= request.expires:
                request.status = Status.EXPIRED
                request.nonces.clear()
                expired.append(request)
        return expired

    def issue_nonce(self, request_id: str, purpose: str) -> str:
        """A one-time nonce for a notification button (approve or deny)."""
        request = self._open(request_id, None)
        nonce = secrets.token_urlsafe(16)
        request.nonces[nonce] = purpose
        return nonce

    def redeem_nonce(self, request_id: str, nonce: str, now: datetime) -> str:
        """Use a nonce up: its purpose, or WorkflowError if unknown, used or for another request."""
        request = self.get(request_id)
        if request.status is Status.PENDING and now >= request.expires:
            self.expire(now)
        purpose = request.nonces.pop(nonce, None)
        if purpose is None:
            raise WorkflowError(
                "nonce_invalid", f"this approval link for request {request_id} was used or is void"
            )
        return purpose

    def approve(
        self,
        request_id: str,
        user_id: str | None,
        now: datetime,
        *,
        authorised: Callable[[str], bool],
    ) -> Request:
        """Record a yes. Approved once confirm has the requester's yes, dual a different person's."""
        request = self._open(request_id, now)
        if user_id is None:
            raise WorkflowError("approver_unknown", "an approval needs a signed-in user")
        if request.verdict is Verdict.CONFIRM:
            if user_id != request.requester:
                raise WorkflowError(
                    "confirm_by_requester", "only the person who asked can confirm this action"
                )
        else:
            if user_id == request.requester:
                raise WorkflowError(
                    "self_approval", "nobody may approve their own request; ask a second person"
                )
            if not authorised(user_id):
                raise WorkflowError(
                    "not_authorised", "this user may not approve actions in this zone"
                )
        if user_id not in request.approvers:
            request.approvers.append(user_id)
        request.status = Status.APPROVED
        request.decided_by = user_id
        request.nonces.clear()
        return request

    def deny(self, request_id: str, user_id: str | None, now: datetime) -> Request:
        """Record a no (the requester may withdraw; anyone signed in may refuse)."""
        request = self._open(request_id, now)
        if user_id is None:
            raise WorkflowError("approver_unknown", "a refusal needs a signed-in user")
        request.status = Status.DENIED
        request.decided_by = user_id
        request.nonces.clear()
        return request

    def finish(self, request_id: str, *, ok: bool) -> Request:
        """An approved request ran (or failed to)."""
        request = self.get(request_id)
        if request.status is not Status.APPROVED:
            raise WorkflowError("not_approved", f"request {request_id} is {request.status.value}")
        request.status = Status.EXECUTED if ok else Status.FAILED
        return request

    def prune(self, keep: int = 200) -> None:
        """Forget the oldest resolved requests beyond `keep`."""
        done = sorted(
            (r for r in self.requests.values() if r.status is not Status.PENDING),
            key=lambda r: r.created,
        )
        for request in done[: max(0, len(done) - keep)]:
            del self.requests[request.id]

    def _open(self, request_id: str, now: datetime | None) -> Request:
        request = self.get(request_id)
        if now is not None and request.status is Status.PENDING and now >= request.expires:
            self.expire(now)
        if request.status is Status.EXPIRED:
            raise WorkflowError("request_expired", f"request {request_id} has expired")
        if request.status is not Status.PENDING:
            raise WorkflowError(
                "request_closed", f"request {request_id} is already {request.status.value}"
            )
        return request

    def to_list(self) -> list[dict[str, Any]]:
        """Everything, for storage."""
        return [r.to_dict() for r in self.requests.values()]

    def load(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Restore from storage."""
        self.requests = {r.id: r for r in (Request.from_dict(i) for i in items)}
