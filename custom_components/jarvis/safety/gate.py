"""The safety gate: every tool call and every acting service asks it first (HA glue).

Policy, workflow, audit chain and token checks are the pure modules next to this one; here they
meet HA: users and person entities (who asks, from where), UniFi Access (identity), cameras
(evidence), HA storage (key, replay cache, pending requests), notifications and events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
import ipaddress
from pathlib import Path
import time
from typing import Any

import aiohttp
from homeassistant.const import ATTR_ENTITY_ID, STATE_HOME, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Context, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import area_registry as ar, device_registry as dr, entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
import voluptuous as vol

from ..const import DOMAIN, LOGGER
from .audit import AuditError, AuditLog, Verification
from .const import (
    DEFAULT_TRUSTED_NETWORKS,
    DEVICE_DOMAIN,
    DOOR_DOMAIN,
    EVENT_SAFETY,
    SIGNAL_SAFETY_UPDATE,
    STORAGE_VERSION,
)
from .evidence import async_capture, combined_sha256
from .policy import Action, Decision, Policy, Requester, Verdict, Zone
from .remote import PRESENCE_CODE, REMOTE_CODE, WHERE_CODES, note_refusal, where_message
from .signing import ReplayCache, SigningKey, TokenError, mint, verify
from .unifi_access import UnifiAccessClient, UnifiAccessError, UnifiAccessUnavailableError
from .workflow import DEFAULT_EXPIRY, Request, Status, Workflow, WorkflowError

PERSON_DOMAIN = "person"
# The address an HTTP request came from (set by the HTTP API around a conversation), for the
# remote guard of the tool calls it leads to; None outside HTTP requests.
REQUEST_SOURCE_IP: ContextVar[str | None] = ContextVar("jarvis_safety_source_ip", default=None)
DATA_GATES: HassKey[dict[str, SafetyGate]] = HassKey(f"{DOMAIN}_safety_gates")
NOTIFY_PREFIX = "JARVIS_SAFETY"

type Executor = Callable[[HomeAssistant, Action, Mapping[str, Any]], Awaitable[None]]
DATA_EXECUTORS: HassKey[dict[str, Executor]] = HassKey(f"{DOMAIN}_safety_executors")


class GateError(HomeAssistantError):
    """A refused safety step: `code` says which (self_approval, token_replayed, ...), `reason` why."""

    def __init__(self, code: str, reason: str, **placeholders: str) -> None:
        """One translated message for every refusal; the code and the reason fill it in."""
        super().__init__(
            translation_domain=DOMAIN,
            translation_key="safety_refused",
            translation_placeholders={"code": code, "reason": reason, **placeholders},
        )
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        """The reason in words (translations add the framing)."""
        return self.reason


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The gate's answer to `async_check_action`."""

    status: str  # allowed | pending | denied
    verdict: Verdict
    reason: str
    request_id: str | None = None
    code: str | None = None
    action: str | None = None  # what was asked, in words (for the remote-mode answer)

    @property
    def allowed(self) -> bool:
        """True only when the caller may act right now."""
        return self.status == "allowed"

    @property
    def message(self) -> str:
        """What the model / user is told."""
        if self.status == "allowed":
            return "allowed"
        if self.status == "pending":
            who = (
                "the requester must confirm it (jarvis.approve by the same user)"
                if self.verdict is Verdict.CONFIRM
                else "a second, different authorised person must approve it"
            )
            return (
                f"Not done yet: this is a hazardous action ({self.reason}). Request "
                f"{self.request_id} is waiting: {who} within "
                f"{int(DEFAULT_EXPIRY.total_seconds() // 60)} minutes."
            )
        if self.code in WHERE_CODES:
            return where_message(self.code or "", self.action or "this action", self.reason)
        return f"Refused: {self.reason}."

    def to_dict(self) -> dict[str, Any]:
        """Tool result / service response."""
        return {
            "status": self.status,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "request_id": self.request_id,
            "code": self.code,
            "message": self.message,
        }


@dataclass(slots=True)
class UnifiSettings:
    """How to reach UniFi Access, and which Access user each HA user is."""

    url: str
    token: str
    verify_ssl: bool = False
    user_map: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0


@dataclass(slots=True)
class GateSettings:
    """Everything configured for the gate of one Jarvis entry."""

    policy: Policy
    unifi: UnifiSettings | None = None
    notify: dict[str, tuple[str, ...]] = field(default_factory=dict)  # zone -> notify services
    trusted_networks: tuple[str, ...] = DEFAULT_TRUSTED_NETWORKS
    expiry: timedelta = DEFAULT_EXPIRY


class SafetyGate:
    """One entry's gate: policy decisions, pending requests, signing, execution, audit."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        settings: GateSettings,
        session: aiohttp.ClientSession,
    ) -> None:
        """Nothing is loaded until async_load."""
        self.hass = hass
        self.entry_id = entry_id
        self.settings = settings
        self.workflow = Workflow()
        self.replay = ReplayCache()
        self.key = SigningKey.generate()
        folder = Path(hass.config.path(DOMAIN, "safety"))
        self.evidence_dir = folder / "evidence"
        self.audit = AuditLog(folder / f"audit.{entry_id}.jsonl")
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.safety.{entry_id}", private=True, atomic_writes=True
        )
        self._lock = asyncio.Lock()
        self.unifi: UnifiAccessClient | None = None
        if settings.unifi is not None:
            self.unifi = UnifiAccessClient(
                session,
                settings.unifi.url,
                settings.unifi.token,
                verify_ssl=settings.unifi.verify_ssl,
                timeout=settings.unifi.timeout,
            )
        self.last_verification: Verification | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def async_load(self) -> None:
        """Key, replay cache and requests from storage; the audit chain from disk."""
        stored = await self._store.async_load()
        if stored and stored.get("key"):
            self.key = SigningKey.from_dict(stored["key"])
            self.replay.seen = {str(k): int(v) for k, v in stored.get("replay", {}).items()}
            self.workflow.load(stored.get("requests", []))
        else:
            await self._save()  # the key is created at setup and kept from then on
        self.last_verification = await self.hass.async_add_executor_job(self.audit.load)
        if not self.last_verification.ok:
            LOGGER.error(
                "The safety audit log %s is broken at record %s: %s",
                self.audit.path,
                self.last_verification.first_broken,
                self.last_verification.problem,
            )
        await self.async_expire()

    async def _save(self) -> None:
        self.replay.prune(time.time())
        self.workflow.prune()
        await self._store.async_save(
            {
                "key": self.key.to_dict(),
                "replay": dict(self.replay.seen),
                "requests": self.workflow.to_list(),
            }
        )

    async def async_expire(self, _now: Any = None) -> None:
        """Move overdue requests to expired (audited)."""
        expired = self.workflow.expire(dt_util.utcnow())
        for request in expired:
            await self._record("expired", request, reason="nobody approved it in time")
        if expired:
            await self._save()
            self._updated()

    # -- audit, events -----------------------------------------------------------------------

    async def _audit(self, kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
        try:
            record = await self.hass.async_add_executor_job(
                self.audit.append, kind, data, dt_util.utcnow()
            )
        except AuditError as err:
            # No record, no action: callers treat this as a refusal.
            raise GateError("audit_unavailable", str(err)) from err
        self.hass.bus.async_fire(
            EVENT_SAFETY, {"kind": kind, **record["data"], "seq": record["seq"]}
        )
        async_dispatcher_send(self.hass, SIGNAL_SAFETY_UPDATE.format(self.entry_id), kind, record)
        return record

    async def _record(
        self, kind: str, request: Request | None, *, reason: str, **extra: Any
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"reason": reason, **extra}
        if request is not None:
            data.update(
                request_id=request.id,
                action=request.action.name,
                targets=list(request.action.targets),
                verdict=request.verdict.value,
                requester=request.requester,
                zone=request.zone,
                status=request.status.value,
            )
        return await self._audit(kind, data)

    def _updated(self) -> None:
        async_dispatcher_send(self.hass, SIGNAL_SAFETY_UPDATE.format(self.entry_id), "state", None)

    def pending(self) -> list[Request]:
        """Open requests, oldest first."""
        return self.workflow.pending(dt_util.utcnow())

    # -- who asks ----------------------------------------------------------------------------

    def requester(self, user_id: str | None, source_ip: str | None) -> Requester:
        """Presence from the user's person entity; remote if away or from outside trusted ranges."""
        home: bool | None = None
        for state in self.hass.states.async_all(PERSON_DOMAIN):
            if user_id is not None and state.attributes.get("user_id") == user_id:
                # A person with no tracker (every new user's, the owner's after onboarding) is
                # `unknown`: where they are is not known, which is not the same as away.
                if state.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE):
                    home = state.state == STATE_HOME
                break
        remote = home is False
        if source_ip is not None:
            try:
                address = ipaddress.ip_address(source_ip)
                remote = remote or not any(
                    address in ipaddress.ip_network(net, strict=False)
                    for net in self.settings.trusted_networks
                )
            except ValueError:
                remote = True
        return Requester(user_id=user_id, home=home, remote=remote)

    # -- the check ---------------------------------------------------------------------------

    def enrich(self, action: Action) -> Action:
        """Add every name and area HA knows for the targets, so keyword and zone rules see them.

        Callers (services, other code) may name only an entity id; a rule about "laser" must
        still match `switch.relay_3` when HA calls it "Laser cutter".
        """
        ent_reg = er.async_get(self.hass)
        dev_reg = dr.async_get(self.hass)
        area_reg = ar.async_get(self.hass)
        names = list(action.names)
        areas = list(action.areas)
        for target in action.targets:
            if (state := self.hass.states.get(target)) is not None:
                names.append(state.name)
            area_id = None
            device_id = None
            if (entry := ent_reg.async_get(target)) is not None:
                names.extend(n for n in (entry.name, entry.original_name) if n)
                names.extend(a for a in entry.aliases if isinstance(a, str))
                area_id, device_id = entry.area_id, entry.device_id
            elif dev_reg.async_get(target) is not None:
                device_id = target
            if device_id and (device := dev_reg.async_get(device_id)) is not None:
                names.extend(n for n in (device.name_by_user, device.name) if n)
                area_id = area_id or device.area_id
            if area_id and (area := area_reg.async_get_area(area_id)) is not None:
                areas.extend((area.id, area.name.lower()))
        return Action(
            domain=action.domain,
            service=action.service,
            targets=action.targets,
            data=action.data,
            names=tuple(dict.fromkeys(names)),
            areas=tuple(dict.fromkeys(areas)),
        )

    def evaluate(
        self,
        action: Action,
        user_id: str | None,
        *,
        zone: str | None = None,
        source_ip: str | None = None,
    ) -> Decision:
        """The policy's answer (no identity check, nothing recorded): for fast pre-filters."""
        return self.settings.policy.evaluate(
            self.enrich(action), self.requester(user_id, source_ip), dt_util.now(), zone_name=zone
        )

    async def async_check(
        self,
        action: Action,
        *,
        user_id: str | None,
        context: Context | None = None,
        source: str = "service",
        zone: str | None = None,
        source_ip: str | None = None,
    ) -> GateDecision:
        """Allow, refuse (audited), or open a pending request (audited, approvers notified)."""
        action = self.enrich(action)
        try:
            decision = self.evaluate(action, user_id, zone=zone, source_ip=source_ip)
        except ValueError as err:  # PolicyError: an unknown zone was named
            raise GateError("invalid_zone", str(err)) from err
        if decision.verdict is Verdict.ALLOW:
            return GateDecision("allowed", Verdict.ALLOW, decision.reason)
        zone_name = decision.zone.name if decision.zone else None
        base = {
            "action": action.name,
            "targets": list(action.targets),
            "requester": user_id,
            "zone": zone_name,
            "rule": decision.rule,
            "source": source,
            "context_id": context.id if context else None,
        }
        if decision.verdict is Verdict.DENY:
            code = (
                REMOTE_CODE
                if "remotely" in decision.reason
                else PRESENCE_CODE
                if "needs the requester at home" in decision.reason
                else "denied_by_policy"
            )
            await self._audit("refused", {**base, "code": code, "reason": decision.reason})
            refused = GateDecision(
                "denied", Verdict.DENY, decision.reason, code=code, action=action.describe()
            )
            note_refusal(code, action.describe(), refused.message)
            return refused
        async with self._lock:
            try:
                identity = await self._check_identity(user_id, decision.zone, action)
            except GateError as err:
                await self._audit("refused", {**base, "code": err.code, "reason": err.reason})
                return GateDecision("denied", decision.verdict, err.reason, code=err.code)
            try:
                request = self.workflow.create(
                    action,
                    decision.verdict,
                    requester=user_id,
                    zone=zone_name,
                    reason=decision.reason,
                    now=dt_util.utcnow(),
                    expiry=self.settings.expiry,
                    source=source,
                )
            except WorkflowError as err:
                await self._audit("refused", {**base, "code": err.code, "reason": str(err)})
                return GateDecision("denied", decision.verdict, str(err), code=err.code)
            cameras = decision.zone.cameras if decision.zone else ()
            request.evidence = await async_capture(
                self.hass, cameras, self.evidence_dir, f"{request.id}_request"
            )
            await self._save()
            await self._record(
                "requested",
                request,
                reason=decision.reason,
                rule=decision.rule,
                identity=identity,
                evidence=request.evidence,
                evidence_sha256=combined_sha256(request.evidence),
                source=source,
            )
        await self._notify(request, decision.zone)
        self._updated()
        return GateDecision("pending", decision.verdict, decision.reason, request.id)

    async def _check_identity(
        self, user_id: str | None, zone: Zone | None, action: Action
    ) -> dict[str, Any]:
        """Zones with doors: the requester is an active UniFi Access user who badged in lately."""
        if action.domain == DOOR_DOMAIN and zone is None:
            # No zone, no door to have badged in at: a door unlock there cannot be checked.
            raise GateError(
                "identity_unavailable",
                f"door {', '.join(action.targets) or '?'} belongs to no safety zone",
            )
        if zone is None or not zone.doors:
            return {"checked": False, "why": "no door in the zone"}
        if self.unifi is None or self.settings.unifi is None:
            raise GateError(
                "identity_unavailable", f"zone {zone.name} has doors but UniFi Access is not set up"
            )
        access_id = self.settings.unifi.user_map.get(user_id or "")
        if access_id is None:
            raise GateError(
                "identity_unknown", "the requester has no UniFi Access user mapped to them"
            )
        now = dt_util.utcnow()
        try:
            user = await self.unifi.get_user(access_id)
            if user.get("status") != "ACTIVE":
                raise GateError(
                    "identity_inactive",
                    f"the requester's UniFi Access account is {user.get('status')}",
                )
            badge = await self.unifi.recent_badge_in(
                access_id, zone.doors, now - timedelta(minutes=zone.badge_minutes), now
            )
        except UnifiAccessUnavailableError as err:
            raise GateError(
                "identity_unreachable", f"UniFi Access cannot be reached ({err})"
            ) from err
        except UnifiAccessError as err:
            raise GateError("identity_unreachable", f"UniFi Access failed ({err})") from err
        if badge is None:
            raise GateError(
                "identity_not_badged_in",
                f"the requester has not badged in at a door of zone {zone.name} in the last "
                f"{zone.badge_minutes} minutes",
            )
        return {
            "checked": True,
            "access_user": access_id,
            "door": badge.door_id,
            "credential": badge.credential,
            "badged_at": badge.published.isoformat(),
        }

    # -- people decide -----------------------------------------------------------------------

    async def _authorised(self, zone_name: str | None, user_id: str | None) -> bool:
        """Zone approvers when the zone names some, else any active administrator."""
        zone = None
        if zone_name is not None:
            zone = next((z for z in self.settings.policy.zones if z.name == zone_name), None)
        approvers = zone.approvers if zone else ()
        user = await self.hass.auth.async_get_user(user_id) if user_id else None
        if user is None or not user.is_active:
            return False
        return user.id in approvers if approvers else user.is_admin

    async def async_approve(
        self, request_id: str, user_id: str | None, *, via: str = "service"
    ) -> dict[str, Any]:
        """A yes; once approved the action is signed, verified and executed."""
        async with self._lock:
            try:
                request = self.workflow.get(request_id)
                allowed = await self._authorised(request.zone, user_id)
                request = self.workflow.approve(
                    request_id, user_id, dt_util.utcnow(), authorised=lambda _user: allowed
                )
            except WorkflowError as err:
                await self._refuse(request_id, user_id, err.code, str(err), via=via)
                raise GateError(err.code, str(err), request_id=request_id) from err
            await self._save()
            await self._record("approved", request, reason=f"approved via {via}", by=user_id)
            result = await self._execute_approved(request)
        self._updated()
        return result

    async def async_deny(
        self, request_id: str, user_id: str | None, *, via: str = "service"
    ) -> dict[str, Any]:
        """A no: the request is closed without acting."""
        async with self._lock:
            try:
                request = self.workflow.deny(request_id, user_id, dt_util.utcnow())
            except WorkflowError as err:
                await self._refuse(request_id, user_id, err.code, str(err), via=via)
                raise GateError(err.code, str(err), request_id=request_id) from err
            await self._save()
            await self._record("denied", request, reason=f"denied via {via}", by=user_id)
        self._updated()
        return request.public()

    async def _refuse(
        self, request_id: str, user_id: str | None, code: str, reason: str, **extra: Any
    ) -> None:
        request = self.workflow.requests.get(request_id)
        if code == "request_expired" and request is not None:
            await self._save()
        await self._record(
            "refused", request, reason=reason, code=code, by=user_id, request_id=request_id, **extra
        )

    # -- signing and execution ---------------------------------------------------------------

    def mint_for(self, request: Request, evidence_sha256: str | None) -> tuple[str, str]:
        """The command token for an approved request."""
        return mint(
            self.key,
            domain=request.action.domain,
            subject=request.requester or "",
            now=dt_util.utcnow(),
            claims={
                "action": request.action.name,
                "target": list(request.action.targets),
                "zone": request.zone,
                "rid": request.id,
                "approvers": list(request.approvers),
                "evidence_sha256": evidence_sha256,
            },
        )

    async def _execute_approved(self, request: Request) -> dict[str, Any]:
        zone = (
            next((z for z in self.settings.policy.zones if z.name == request.zone), None)
            if request.zone
            else None
        )
        evidence = await async_capture(
            self.hass, zone.cameras if zone else (), self.evidence_dir, f"{request.id}_approval"
        )
        request.evidence.extend(evidence)
        token, _jti = self.mint_for(request, combined_sha256(evidence or request.evidence))
        return await self._execute(token, request_id=request.id)

    async def async_execute_token(self, token: str, *, via: str = "executor") -> dict[str, Any]:
        """The executor's entry point for a token handed in from outside (tests, other code)."""
        async with self._lock:
            return await self._execute(token, request_id=None, via=via)

    async def _execute(
        self, token: str, *, request_id: str | None, via: str = "gate"
    ) -> dict[str, Any]:
        """Verify the token (pinned alg, aud, iss, typ, kid, lifetime, jti) and run its action."""
        request = self.workflow.requests.get(request_id) if request_id else None
        domain = request.action.domain if request else _claimed_domain(token)
        try:
            claims = verify(
                token, self.key, domain=domain, replay=self.replay, now=dt_util.utcnow()
            )
            # The jti is spent before acting: a crash after this point cannot lead to a replay.
            await self._save()
            request = self._request_for(claims)
        except (TokenError, WorkflowError) as err:
            await self._record(
                "refused",
                request,
                reason=str(err),
                code=err.code,
                via=via,
                signature=_signature(token),
            )
            raise GateError(err.code, str(err)) from err
        try:
            await self._run(request, claims)
        except (HomeAssistantError, UnifiAccessError, vol.Invalid) as err:
            self.workflow.finish(request.id, ok=False)
            await self._save()
            await self._record(
                "failed", request, reason=str(err), jti=claims["jti"], kid=self.key.kid
            )
            raise GateError("execution_failed", str(err), request_id=request.id) from err
        self.workflow.finish(request.id, ok=True)
        await self._save()
        await self._record(
            "executed",
            request,
            reason="signed command verified and executed",
            approvers=list(request.approvers),
            jti=claims["jti"],
            kid=self.key.kid,
            alg="EdDSA",
            signature=_signature(token),
            evidence=request.evidence,
            evidence_sha256=claims.get("evidence_sha256"),
        )
        return {**request.public(), "jti": claims["jti"]}

    def _request_for(self, claims: Mapping[str, Any]) -> Request:
        """The approved request a verified token is for; TokenError if it does not fit."""
        request = self.workflow.get(str(claims.get("rid")))
        if request.status is not Status.APPROVED:
            raise TokenError(
                "token_request_not_approved", f"request {request.id} is {request.status.value}"
            )
        if claims.get("action") != request.action.name or list(claims.get("target", [])) != list(
            request.action.targets
        ):
            raise TokenError("token_mismatch", "the token does not match its request")
        return request

    async def _run(self, request: Request, claims: Mapping[str, Any]) -> None:
        action = request.action
        if action.domain == DOOR_DOMAIN:
            if self.unifi is None:
                raise GateError("execution_failed", "UniFi Access is not set up")
            approver = request.approvers[-1] if request.approvers else ""
            user = await self.hass.auth.async_get_user(approver)
            for door in action.targets:
                await self.unifi.unlock_door(
                    door,
                    actor_id=approver,
                    actor_name=user.name if user and user.name else approver,
                    extra={"request_id": request.id, "jti": claims["jti"]},
                )
            return
        executor = self.hass.data.get(DATA_EXECUTORS, {}).get(action.domain)
        if executor is not None:
            await executor(self.hass, action, claims)
            return
        if action.domain in (DEVICE_DOMAIN, "llm_tool"):
            raise GateError("execution_failed", f"nothing can execute {action.name} here")
        data = dict(action.data)
        if action.targets:
            data[ATTR_ENTITY_ID] = list(action.targets)
        await self.hass.services.async_call(
            action.domain,
            action.service,
            data,
            blocking=True,
            context=Context(user_id=request.requester),
        )

    async def async_rotate_key(self, user_id: str | None) -> dict[str, Any]:
        """A new signing key; tokens signed with the old one stop working at once."""
        async with self._lock:
            old = self.key.kid
            self.key = SigningKey.generate()
            await self._save()
            await self._audit(
                "key_rotated",
                {
                    "reason": "signing key rotated",
                    "old_kid": old,
                    "kid": self.key.kid,
                    "by": user_id,
                },
            )
        return {"kid": self.key.kid, "previous_kid": old}

    # -- notifications -----------------------------------------------------------------------

    async def async_approval_notification(self, request_id: str) -> dict[str, Any]:
        """Title, message, tag and Approve/Deny buttons with fresh one-time nonces, for a phone.

        The buttons come back as `mobile_app_notification_action` with the identity of the
        phone's owner, and `handle_notification_action` redeems them; whoever sends the
        notification (the gate itself, or a blueprint) never approves anything.
        """
        async with self._lock:
            try:
                request = self.workflow.get(request_id)
                approve = self.workflow.issue_nonce(request.id, "approve")
                deny = self.workflow.issue_nonce(request.id, "deny")
            except WorkflowError as err:
                raise GateError(err.code, str(err), request_id=request_id) from err
            await self._save()
        now = dt_util.utcnow()
        return {
            "request_id": request.id,
            "title": "Jarvis safety approval",
            "message": (
                f"{request.action.describe()} was requested ({request.reason}). "
                f"Request {request.id} expires at {dt_util.as_local(request.expires):%H:%M}."
            ),
            "tag": f"jarvis_safety_{request.id}",
            "expires": request.expires.isoformat(),
            "expires_in": max(0, int((request.expires - now).total_seconds())),
            "actions": [
                {
                    "action": f"{NOTIFY_PREFIX}_APPROVE_{request.id}_{approve}",
                    "title": "Approve",
                    "authenticationRequired": True,
                },
                {
                    "action": f"{NOTIFY_PREFIX}_DENY_{request.id}_{deny}",
                    "title": "Deny",
                    "destructive": True,
                },
            ],
        }

    async def _notify(self, request: Request, zone: Zone | None) -> None:
        services = self.settings.notify.get(zone.name if zone else "", ())
        if not services:
            return
        payload = await self.async_approval_notification(request.id)
        message = payload["message"]
        data = {"tag": payload["tag"], "actions": payload["actions"]}
        for service in services:
            try:
                await self.hass.services.async_call(
                    "notify",
                    service.removeprefix("notify."),
                    {"title": "Jarvis safety approval", "message": message, "data": data},
                    blocking=True,
                )
            except HomeAssistantError as err:
                LOGGER.warning("Approval notification via %s failed: %s", service, err)

    @callback
    def handle_notification_action(self, event: Event) -> None:
        """A tapped notification button: redeem its one-time nonce, then approve or deny."""
        action = str(event.data.get("action", ""))
        prefix = f"{NOTIFY_PREFIX}_"
        if not action.startswith(prefix):
            return
        kind, _, rest = action.removeprefix(prefix).partition("_")
        request_id, _, nonce = rest.partition("_")
        if request_id not in self.workflow.requests:
            return
        self.hass.async_create_task(
            self._redeem(kind, request_id, nonce, event.context.user_id), "jarvis safety tap"
        )

    async def _redeem(self, kind: str, request_id: str, nonce: str, user_id: str | None) -> None:
        try:
            purpose = self.workflow.redeem_nonce(request_id, nonce, dt_util.utcnow())
        except WorkflowError as err:
            await self._save()
            await self._refuse(request_id, user_id, err.code, str(err), via="notification")
            return
        await self._save()
        try:
            if purpose == "approve" and kind == "APPROVE":
                await self.async_approve(request_id, user_id, via="notification")
            elif purpose == "deny" and kind == "DENY":
                await self.async_deny(request_id, user_id, via="notification")
            else:
                await self._refuse(
                    request_id, user_id, "nonce_invalid", "the button does not match its nonce"
                )
        except GateError as err:
            LOGGER.info("Notification answer for %s refused: %s", request_id, err)


def _signature(token: str) -> str:
    return token.rsplit(".", 1)[-1] if token.count(".") == 2 else ""


def _claimed_domain(token: str) -> str:
    """The domain a token claims (only to pick the audience; everything is verified after)."""
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return "unknown"
    action = str(claims.get("action", ""))
    return action.split(".", 1)[0] if "." in action else "unknown"


def async_get_gate(hass: HomeAssistant) -> SafetyGate | None:
    """The gate of the loaded Jarvis entry (one per installation)."""
    gates = hass.data.get(DATA_GATES)
    return next(iter(gates.values()), None) if gates else None


async def async_check_action(
    hass: HomeAssistant,
    action: Action,
    *,
    user_id: str | None,
    context: Context | None = None,
    source: str = "service",
    zone: str | None = None,
    source_ip: str | None = None,
) -> GateDecision:
    """Ask the gate before acting. Fails closed: without a loaded gate, gated actions are denied."""
    gate = async_get_gate(hass)
    if gate is None:
        return GateDecision(
            "denied", Verdict.DENY, "the Jarvis safety gate is not loaded", code="gate_unavailable"
        )
    return await gate.async_check(
        action, user_id=user_id, context=context, source=source, zone=zone, source_ip=source_ip
    )


@callback
def async_register_executor(
    hass: HomeAssistant, domain: str, executor: Executor
) -> Callable[[], None]:
    """Let other code run approved actions of its domain (e.g. `jarvis_device` printer commands)."""
    executors = hass.data.setdefault(DATA_EXECUTORS, {})
    executors[domain] = executor

    @callback
    def remove() -> None:
        executors.pop(domain, None)

    return remove


def device_action(device_id: str, command: str, args: Mapping[str, Any] | None = None) -> Action:
    """How a printer / machine command is described to the gate."""
    return Action(
        domain=DEVICE_DOMAIN, service=command, targets=(device_id,), data=dict(args or {})
    )
