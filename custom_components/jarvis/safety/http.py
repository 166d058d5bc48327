"""`GET /api/jarvis/safety/audit` (HA auth, administrators): the audit log and its verification."""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web
from homeassistant.components.http.const import KEY_HASS_USER
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView

from .gate import async_get_gate
from .services import audit_records


def _error(status: HTTPStatus, error: str, message: str, field: str | None = None) -> web.Response:
    body = {"error": error, "message": message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


class SafetyAuditView(HomeAssistantView):
    """Records newest first; `limit` (1-1000, default 100), `request_id`; plus `verification`."""

    url = "/api/jarvis/safety/audit"
    name = "api:jarvis:safety_audit"

    async def get(self, request: web.Request) -> web.Response:
        """The log, if the caller is an administrator and the query is sound."""
        hass = request.app[KEY_HASS]
        if not request[KEY_HASS_USER].is_admin:
            return _error(
                HTTPStatus.FORBIDDEN,
                "admin_required",
                "the safety audit log names every requester; only administrators may read it",
            )
        unknown = set(request.query) - {"limit", "request_id"}
        if unknown:
            name = min(unknown)
            return _error(HTTPStatus.BAD_REQUEST, "invalid_filter", f"unknown filter {name}", name)
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            return _error(
                HTTPStatus.BAD_REQUEST, "invalid_filter", "limit must be 1 to 1000", "limit"
            )
        gate = async_get_gate(hass)
        if gate is None:
            return _error(
                HTTPStatus.CONFLICT, "gate_unavailable", "the Jarvis safety gate is not loaded"
            )
        body = await audit_records(hass, gate, limit, request.query.get("request_id"))
        verification = await hass.async_add_executor_job(gate.audit.verify)
        return self.json({**body, "verification": verification.to_dict()})
