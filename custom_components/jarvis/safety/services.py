"""Safety services: request, approve and deny gated actions; keys; the audit log."""

from __future__ import annotations

from typing import Any

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service
import voluptuous as vol

from ..const import DOMAIN
from .const import (
    SERVICE_APPROVE,
    SERVICE_DENY,
    SERVICE_GET_AUDIT_LOG,
    SERVICE_ISSUE_APPROVAL_ACTIONS,
    SERVICE_REQUEST_ACTION,
    SERVICE_ROTATE_SIGNING_KEY,
    SERVICE_VERIFY_AUDIT_LOG,
)
from .gate import SafetyGate, async_get_gate
from .policy import Action

ATTR_REQUEST_ID = "request_id"
# `request_id: only` names the one request that waits: a dashboard button cannot template an id
# into its action. With several waiting it is refused, so nobody approves a request they did not
# look at (one that arrived, or moved to the top, while they reached for the button).
ONLY_REQUEST = "only"
REQUEST_ACTION_SCHEMA = vol.Schema(
    {
        vol.Required("action"): cv.string,
        vol.Optional("target", default=list): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional("data", default=dict): dict,
        vol.Optional("zone"): cv.string,
    }
)
REQUEST_ID_SCHEMA = vol.Schema({vol.Required(ATTR_REQUEST_ID): cv.string})
GET_AUDIT_SCHEMA = vol.Schema(
    {
        vol.Optional("limit", default=100): vol.All(vol.Coerce(int), vol.Range(min=1, max=1000)),
        vol.Optional(ATTR_REQUEST_ID): cv.string,
    }
)


def _gate(hass: HomeAssistant) -> SafetyGate:
    gate = async_get_gate(hass)
    if gate is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="gate_unavailable")
    return gate


def parse_action(name: str, targets: list[str], data: dict[str, Any]) -> Action:
    """`domain.service` + targets, or a translated error naming what is wrong."""
    domain, dot, service = name.partition(".")
    if not dot or not domain or not service or " " in name:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_action",
            translation_placeholders={"action": name},
        )
    return Action(domain=domain, service=service, targets=tuple(targets), data=data)


async def _request_action(call: ServiceCall) -> ServiceResponse:
    gate = _gate(call.hass)
    action = parse_action(call.data["action"], call.data["target"], call.data["data"])
    zone = call.data.get("zone")
    if zone is not None:
        known = {z.name for z in gate.settings.policy.zones}
        if zone not in known:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_zone",
                translation_placeholders={"zone": zone, "zones": ", ".join(sorted(known)) or "-"},
            )
    decision = await gate.async_check(
        action, user_id=call.context.user_id, context=call.context, source="service", zone=zone
    )
    if decision.allowed:
        # Nothing to approve: run it for the caller, in the caller's context.
        data = dict(action.data)
        if action.targets:
            data["entity_id"] = list(action.targets)
        await call.hass.services.async_call(
            action.domain, action.service, data, blocking=True, context=call.context
        )
    return decision.to_dict()


def resolve_request_id(gate: SafetyGate, request_id: str) -> str:
    """The id itself, or for `only` the one open request's id (error when none or several)."""
    if request_id != ONLY_REQUEST:
        return request_id
    pending = gate.pending()
    if not pending:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_pending_request"
        )
    if len(pending) > 1:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="several_pending_requests",
            translation_placeholders={"count": str(len(pending))},
        )
    return pending[0].id


async def _approve(call: ServiceCall) -> ServiceResponse:
    gate = _gate(call.hass)
    request_id = resolve_request_id(gate, call.data[ATTR_REQUEST_ID])
    return await gate.async_approve(request_id, call.context.user_id)


async def _deny(call: ServiceCall) -> ServiceResponse:
    gate = _gate(call.hass)
    request_id = resolve_request_id(gate, call.data[ATTR_REQUEST_ID])
    return await gate.async_deny(request_id, call.context.user_id)


async def _issue_approval_actions(call: ServiceCall) -> ServiceResponse:
    return await _gate(call.hass).async_approval_notification(call.data[ATTR_REQUEST_ID])


async def _rotate(call: ServiceCall) -> ServiceResponse:
    return await _gate(call.hass).async_rotate_key(call.context.user_id)


async def _verify(call: ServiceCall) -> ServiceResponse:
    gate = _gate(call.hass)
    result = await call.hass.async_add_executor_job(gate.audit.verify)
    return result.to_dict()


async def audit_records(
    hass: HomeAssistant, gate: SafetyGate, limit: int, request_id: str | None
) -> dict[str, Any]:
    """Newest first, optionally one request's records."""
    records = await hass.async_add_executor_job(gate.audit.read)
    if request_id:
        records = [r for r in records if r.get("data", {}).get("request_id") == request_id]
    return {"records": list(reversed(records))[:limit], "total": len(records)}


async def _get_audit(call: ServiceCall) -> ServiceResponse:
    gate = _gate(call.hass)
    return await audit_records(call.hass, gate, call.data["limit"], call.data.get(ATTR_REQUEST_ID))


@callback
def async_setup_safety_services(hass: HomeAssistant) -> None:
    """Register the safety services (once, in async_setup)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_REQUEST_ACTION,
        _request_action,
        schema=REQUEST_ACTION_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_APPROVE,
        _approve,
        schema=REQUEST_ID_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_DENY,
        _deny,
        schema=REQUEST_ID_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    # Keys and the log (which names every requester) are for administrators.
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_ROTATE_SIGNING_KEY,
        _rotate,
        schema=vol.Schema({}),
        supports_response=SupportsResponse.OPTIONAL,
    )
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_VERIFY_AUDIT_LOG,
        _verify,
        schema=vol.Schema({}),
        supports_response=SupportsResponse.ONLY,
    )
    # Fresh one-time nonces for notification buttons (the hazard-approval blueprint): admins
    # and automations only; redeeming one still needs the tap of an authorised other person.
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_ISSUE_APPROVAL_ACTIONS,
        _issue_approval_actions,
        schema=REQUEST_ID_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_GET_AUDIT_LOG,
        _get_audit,
        schema=GET_AUDIT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
