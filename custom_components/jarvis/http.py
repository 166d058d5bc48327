"""HTTP API (HA auth): `/api/jarvis/routing/logs` and `/api/jarvis/query` for clients outside Assist.

Errors are JSON: {"error": code, "message": why, "field": the request part at fault (if one is)}.
A request without valid HA credentials gets HA's own 401 (its view wrapper counts failed logins
for IP banning).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from homeassistant.components import conversation
from homeassistant.components.http.const import KEY_HASS_USER
from homeassistant.core import Context, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util.json import json_loads

from .const import ATTR_CONFIG_ENTRY_ID, DOMAIN, MAX_REQUEST_CHARS
from .device_http import DeviceCommandView
from .routing_log import RoutingLogQueryError, async_query, parse_filters
from .safety.gate import REQUEST_SOURCE_IP
from .services import loaded_entry

# Room for MAX_REQUEST_CHARS characters written as JSON escapes (\ud83d\ude00: 12 bytes each).
MAX_BODY_BYTES: Final = 128 * 1024
QUERY_FIELDS: Final = ("text", "agent_id", "conversation_id", "language")
# loaded_entry's translation keys -> status
_ENTRY_STATUS: Final = {
    "entry_not_found": HTTPStatus.NOT_FOUND,
    "entry_not_loaded": HTTPStatus.CONFLICT,
}


def _error(status: HTTPStatus, error: str, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": error, "message": message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


class RoutingLogsView(HomeAssistantView):
    """Decisions from the ledger: `GET /api/jarvis/routing/logs` with optional filters.

    Query: since (ISO 8601; without a time zone HA's), tier, agent (entity or subentry id),
    limit, offset, config_entry_id. Administrators only: the log holds every user's requests.
    """

    url = "/api/jarvis/routing/logs"
    name = "api:jarvis:routing_logs"

    async def get(self, request: web.Request) -> web.Response:
        """Paginated decisions, newest first."""
        hass = request.app[KEY_HASS]
        if not request[KEY_HASS_USER].is_admin:
            return _error(
                HTTPStatus.FORBIDDEN,
                "admin_required",
                "the routing log holds every user's requests; only administrators may read it",
            )
        for name in request.query:
            if len(request.query.getall(name)) > 1:
                return _error(
                    HTTPStatus.BAD_REQUEST,
                    "invalid_filter",
                    f"{name} is given more than once",
                    name,
                )
        try:
            query = parse_filters(hass, request.query)
            entry = loaded_entry(hass, query.config_entry_id)
        except RoutingLogQueryError as err:
            return _error(HTTPStatus.BAD_REQUEST, "invalid_filter", str(err), err.field)
        except ServiceValidationError as err:
            key = err.translation_key or "invalid_entry"
            return _error(
                _ENTRY_STATUS.get(key, HTTPStatus.BAD_REQUEST), key, str(err), ATTR_CONFIG_ENTRY_ID
            )
        return self.json(await async_query(hass, entry, query))


class QueryView(HomeAssistantView):
    """Ask an agent: `POST /api/jarvis/query` with {text, agent_id?, conversation_id?, language?}.

    Any authenticated user: what the agent may do is bounded by that user's HA permissions, as
    for HA's own `/api/conversation/process`.
    """

    url = "/api/jarvis/query"
    name = "api:jarvis:query"

    async def post(self, request: web.Request) -> web.Response:
        """Text in; answer, decision id and tier out."""
        hass = request.app[KEY_HASS]
        body = await _read_body(request)
        if isinstance(body, web.Response):
            return body
        problem = _body_problem(body)
        if problem is not None:
            return problem
        text: str = body["text"]
        # An empty optional field is the same as a missing one.
        agent_id: str | None = body.get("agent_id") or None
        if agent_id is None:
            if not (agents := _loaded_agents(hass)):
                return _error(
                    HTTPStatus.NOT_FOUND,
                    "no_agent",
                    "no Jarvis conversation agent is set up and loaded",
                    "agent_id",
                )
            agent_id = agents[0]
        elif agent_id not in _jarvis_agents(hass):
            return _error(
                HTTPStatus.NOT_FOUND,
                "unknown_agent",
                f"{agent_id} is not a Jarvis conversation agent",
                "agent_id",
            )
        elif conversation.async_get_agent_info(hass, agent_id) is None:
            return _error(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "agent_unavailable",
                f"{agent_id} is not loaded (disabled, or its Jarvis entry is not set up)",
                "agent_id",
            )
        context = Context(user_id=request[KEY_HASS_USER].id)
        # The safety gate's remote guard sees where this request came from.
        source = REQUEST_SOURCE_IP.set(request.remote)
        try:
            result = await conversation.async_converse(
                hass,
                text,
                body.get("conversation_id") or None,
                context,
                language=body.get("language") or None,
                agent_id=agent_id,
            )
        finally:
            REQUEST_SOURCE_IP.reset(source)
        decision = _decision_for(hass, context.id)
        speech = result.response.speech.get("plain", {}).get("speech", "")
        return self.json(
            {
                "answer": speech,
                "response_type": result.response.response_type.value,
                "conversation_id": result.conversation_id,
                "agent_id": agent_id,
                "decision_id": decision.get("id") if decision else None,
                "tier": decision.get("tier") if decision else None,
                "cost_usd": decision.get("cost_usd") if decision else None,
            }
        )


async def _read_body(request: web.Request) -> Any:
    """The body as JSON, or the error response."""
    too_large = _error(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "body_too_large",
        f"the body may be at most {MAX_BODY_BYTES} bytes",
    )
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return too_large
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:  # chunked: no Content-Length to check first
        return too_large
    try:
        return json_loads(raw)
    except ValueError as err:  # orjson's JSONDecodeError (invalid JSON or UTF-8)
        return _error(HTTPStatus.BAD_REQUEST, "invalid_json", f"the body is not JSON: {err}")


def _body_problem(body: Any) -> web.Response | None:
    if not isinstance(body, dict):
        return _error(
            HTTPStatus.BAD_REQUEST,
            "invalid_json",
            f"the body must be a JSON object, not {type(body).__name__}",
        )
    for name in body:
        if name not in QUERY_FIELDS:
            return _error(
                HTTPStatus.BAD_REQUEST,
                "unknown_field",
                f"unknown field {name}; the fields are {', '.join(QUERY_FIELDS)}",
                name,
            )
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        why = "is required" if text is None else "must be a non-empty string"
        return _error(HTTPStatus.BAD_REQUEST, "invalid_text", f"text {why}", "text")
    if len(text) > MAX_REQUEST_CHARS:
        return _error(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "text_too_long",
            f"text is {len(text)} characters; the limit is {MAX_REQUEST_CHARS}",
            "text",
        )
    for name in QUERY_FIELDS[1:]:
        if body.get(name) is not None and not isinstance(body[name], str):
            return _error(
                HTTPStatus.BAD_REQUEST, f"invalid_{name}", f"{name} must be a string", name
            )
    return None


def _jarvis_agents(hass: HomeAssistant) -> set[str]:
    """Every registered Jarvis conversation entity, loaded or not."""
    return {
        e.entity_id
        for e in er.async_get(hass).entities.values()
        if e.platform == DOMAIN and e.domain == conversation.DOMAIN
    }


def _loaded_agents(hass: HomeAssistant) -> list[str]:
    """The Jarvis agents that can answer now, oldest first (the first is the default).

    Entries in their order, each entry's agents in its subentries' order.
    """
    registry = er.async_get(hass)
    agents: list[str] = []
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        order = {subentry_id: i for i, subentry_id in enumerate(entry.subentries)}
        entities = sorted(
            (
                e
                for e in er.async_entries_for_config_entry(registry, entry.entry_id)
                if e.domain == conversation.DOMAIN and e.config_subentry_id in order
            ),
            key=lambda e: order[e.config_subentry_id or ""],
        )
        agents += [
            e.entity_id
            for e in entities
            if conversation.async_get_agent_info(hass, e.entity_id) is not None
        ]
    return agents


def _decision_for(hass: HomeAssistant, context_id: str) -> dict[str, Any] | None:
    """The decision the agent logged for this request's context (taken: it is this request's)."""
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        decision: dict[str, Any] | None = entry.runtime_data.recent_decisions.pop(context_id, None)
        if decision is not None:
            return decision
    return None


@callback
def async_register_views(hass: HomeAssistant) -> None:
    """Register the views once."""
    hass.http.register_view(RoutingLogsView())
    hass.http.register_view(QueryView())
    hass.http.register_view(DeviceCommandView())
