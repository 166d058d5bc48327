"""HTTP API (HA auth): `/api/jarvis/routing/logs` and `/api/jarvis/query` for clients outside Assist."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web
from homeassistant.components import conversation
from homeassistant.components.http.const import KEY_HASS_USER
from homeassistant.core import Context, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .routing_log import RoutingLogQueryError, async_query, build_query
from .services import loaded_entry

MAX_QUERY_CHARS = 8_000


def _error(status: HTTPStatus, error: str, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": error, "message": message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise RoutingLogQueryError(name, f"{name} must be an integer") from None


def _since_param(request: web.Request) -> datetime | None:
    if not (raw := request.query.get("since")):
        return None
    if (since := dt_util.parse_datetime(raw)) is None:
        raise RoutingLogQueryError("since", "since must be an ISO 8601 date and time")
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt_util.get_default_time_zone())
    return since


class RoutingLogsView(HomeAssistantView):
    """Decisions from the ledger: `GET /api/jarvis/routing/logs` with optional filters.

    Query: since (ISO 8601), tier, agent (entity or subentry id), limit, offset, config_entry_id.
    """

    url = "/api/jarvis/routing/logs"
    name = "api:jarvis:routing_logs"

    async def get(self, request: web.Request) -> web.Response:
        """Paginated decisions, newest first."""
        hass = request.app[KEY_HASS]
        try:
            entry = loaded_entry(hass, request.query.get("config_entry_id"))
            query = build_query(
                hass,
                since=_since_param(request),
                tier=request.query.get("tier"),
                agent=request.query.get("agent"),
                limit=_int_param(request, "limit"),
                offset=_int_param(request, "offset"),
            )
        except RoutingLogQueryError as err:
            return _error(HTTPStatus.BAD_REQUEST, "invalid_filter", str(err), err.field)
        except ServiceValidationError as err:
            return _error(
                HTTPStatus.BAD_REQUEST,
                err.translation_key or "invalid",
                str(err),
                "config_entry_id",
            )
        return web.json_response(await async_query(hass, entry, query))


class QueryView(HomeAssistantView):
    """Ask an agent: `POST /api/jarvis/query` with {text, agent_id?, conversation_id?, language?}."""

    url = "/api/jarvis/query"
    name = "api:jarvis:query"

    async def post(self, request: web.Request) -> web.Response:
        """Text in; answer, decision id and tier out."""
        hass = request.app[KEY_HASS]
        try:
            body = await request.json()
        except ValueError:
            return _error(HTTPStatus.BAD_REQUEST, "invalid_json", "the body must be a JSON object")
        if not isinstance(body, dict):
            return _error(HTTPStatus.BAD_REQUEST, "invalid_json", "the body must be a JSON object")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return _error(
                HTTPStatus.BAD_REQUEST, "invalid_text", "text must be a non-empty string", "text"
            )
        if len(text) > MAX_QUERY_CHARS:
            return _error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "text_too_long",
                f"text is {len(text)} characters; the limit is {MAX_QUERY_CHARS}",
                "text",
            )
        agent_id = body.get("agent_id")
        for field in ("agent_id", "conversation_id", "language"):
            if body.get(field) is not None and not isinstance(body[field], str):
                return _error(
                    HTTPStatus.BAD_REQUEST, f"invalid_{field}", f"{field} must be a string", field
                )
        if agent_id is not None and not _is_jarvis_agent(hass, agent_id):
            return _error(
                HTTPStatus.NOT_FOUND,
                "unknown_agent",
                f"{agent_id} is not a Jarvis conversation agent",
                "agent_id",
            )
        agent_id = agent_id or _default_agent(hass)
        if agent_id is None:
            return _error(
                HTTPStatus.NOT_FOUND,
                "no_agent",
                "no Jarvis conversation agent is set up",
                "agent_id",
            )
        context = Context(user_id=request[KEY_HASS_USER].id)
        result = await conversation.async_converse(
            hass,
            text,
            body.get("conversation_id"),
            context,
            language=body.get("language"),
            agent_id=agent_id,
        )
        decision = _decision_for(hass, context.id)
        speech = result.response.speech.get("plain", {}).get("speech", "")
        return web.json_response(
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


def _jarvis_agents(hass: HomeAssistant) -> list[str]:
    return [
        e.entity_id
        for e in er.async_get(hass).entities.values()
        if e.platform == DOMAIN and e.domain == "conversation"
    ]


def _is_jarvis_agent(hass: HomeAssistant, agent_id: str) -> bool:
    return agent_id in _jarvis_agents(hass)


def _default_agent(hass: HomeAssistant) -> str | None:
    agents = sorted(_jarvis_agents(hass))
    return agents[0] if agents else None


def _decision_for(hass: HomeAssistant, context_id: str) -> dict[str, Any] | None:
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        decision: dict[str, Any] | None = entry.runtime_data.recent_decisions.get(context_id)
        if decision is not None:
            return decision
    return None


@callback
def async_register_views(hass: HomeAssistant) -> None:
    """Register the views once."""
    hass.http.register_view(RoutingLogsView())
    hass.http.register_view(QueryView())
