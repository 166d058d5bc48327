"""The add-on's HTTP API (aiohttp): `/api/v1/...`, reached by the integration and through ingress.

Everything answers JSON, errors included. `/api/v1/health` is open; every other `/api/v1/` route
needs `Authorization: Bearer <api_token>`. Under the Supervisor, ingress traffic (it carries
`X-Ingress-Path`) is only accepted from the Supervisor's ingress proxy address.

`/api/v1/llm/v1/...` is the bundled local model's OpenAI-compatible API: an OpenAI client with
`base_url=<add-on>/api/v1/llm/v1` and `api_key=<api_token>` works unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
import hmac
import logging
import time
from typing import Any, Final, Protocol

from aiohttp import hdrs, web

from . import __version__, metrics
from .cad import api as cad_api
from .cad.service import CadService
from .cv.monitor import CvService
from .cv.web_routes import add_routes as add_cv_routes
from .llm.proxy import Upstream, forward
from .llm.service import OPENAI_BASE_PATH, LlmOptions, LocalLlm
from .mqtt import Broker
from .printers.manager import PrinterManager
from .printers.web_routes import add_routes as add_printer_routes
from .ui import add_ui_routes

_LOGGER = logging.getLogger(__name__)

API_PREFIX: Final = "/api/v1"
HEALTH_PATH: Final = f"{API_PREFIX}/health"
LLM_PATH: Final = f"{API_PREFIX}/llm"
METRICS_PATH: Final = "/metrics"  # where Prometheus looks by default; also under /api/v1/
INGRESS_PEER: Final = "172.30.32.2"  # the Supervisor's ingress proxy (developers.home-assistant.io, apps/presentation)
APP_NAME: Final = "jarvis"

_ERROR_NAMES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
KNOWN_LLM_ENDPOINTS: Final = frozenset({"chat/completions", "completions", "embeddings", "models"})
RETRY_AFTER_LOADING: Final = "5"  # seconds; a model load takes about a second


class MqttStatus(Protocol):
    """What the API reports about the MQTT bridge."""

    connected: bool
    reconnects: int
    broker: Broker | None
    client_id: str


class LocalModel(Protocol):
    """What the API needs from the local model (llm.service.LocalLlm)."""

    @property
    def enabled(self) -> bool:
        """The `llm_enabled` option."""

    @property
    def error(self) -> str | None:
        """Why the model is unavailable, if it failed."""

    @property
    def upstream(self) -> Upstream | None:
        """Where to forward OpenAI requests; None while disabled, loading or failed."""

    def status(self) -> dict[str, Any]:
        """The body of `GET /api/v1/llm`."""

    def health(self) -> dict[str, Any]:
        """The `llm` object of the health answer."""


def _llm_off() -> LocalModel:
    return LocalLlm(LlmOptions(enabled=False))


@dataclass(slots=True)
class ApiState:
    """Shared state the handlers read."""

    api_token: str = field(repr=False)
    mqtt: MqttStatus
    instance_id: str = ""
    supervised: bool = False
    hostname: str = ""
    ingress_peer: str = INGRESS_PEER
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_monotonic: float = field(default_factory=time.monotonic)
    llm: LocalModel = field(default_factory=_llm_off)
    cad: CadService | None = None  # None: CAD disabled (option cad.enabled) -> /api/v1/cad/* is 404
    printers: PrinterManager | None = None
    cv: CvService | None = None  # the CV monitor's cameras: /api/v1/cv


STATE_KEY: Final = web.AppKey("jarvis_state", ApiState)


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, *, error: str | None = None
) -> web.Response:
    """`{"error": <name>, "message": ...}` with the given status (name from the status by default)."""
    body = {"error": error or _ERROR_NAMES.get(status, "http_error"), "message": message}
    return web.json_response(body, status=status, headers=headers)


def is_authenticated(request: web.Request, token: str) -> bool:
    """True iff the request carries `Authorization: Bearer <token>` (constant-time compare)."""
    scheme, _, value = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's HTML error pages (404, 405, ...) into JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            message = f"no route for {request.method} {request.path}"
        elif exc.text and not exc.text.startswith(f"{exc.status}:"):
            message = exc.text  # a handler's own explanation
        else:
            message = exc.reason
        headers = {k: v for k, v in exc.headers.items() if k in (hdrs.ALLOW, hdrs.WWW_AUTHENTICATE)}
        return error_response(exc.status, message, headers)


@web.middleware
async def ingress_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under the Supervisor, ingress requests must come from its ingress proxy."""
    state = request.app[STATE_KEY]
    if (
        state.supervised
        and "X-Ingress-Path" in request.headers
        and request.remote != state.ingress_peer
    ):
        _LOGGER.warning(
            "Rejected an ingress request from %s (only %s may proxy ingress)",
            request.remote,
            state.ingress_peer,
        )
        return error_response(403, "ingress requests are only accepted from the Supervisor")
    return await handler(request)


def is_trusted_ingress(request: web.Request) -> bool:
    """An ingress request under the Supervisor: HA has authenticated the user already.

    Only the Supervisor's ingress proxy can make one (ingress_guard rejects the header from any
    other peer); without a Supervisor the header proves nothing, so nothing is trusted.
    """
    state = request.app[STATE_KEY]
    return (
        state.supervised
        and "X-Ingress-Path" in request.headers
        and request.remote == state.ingress_peer
    )


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every `/api/v1/` route except health needs the bearer token (unknown ones too: no probing).

    `/metrics` too. The ingress UI's requests carry no token: HA authenticated them.
    """
    path = request.path
    if (path.startswith(f"{API_PREFIX}/") and path != HEALTH_PATH) or path == METRICS_PATH:
        if not is_trusted_ingress(request) and not is_authenticated(
            request, request.app[STATE_KEY].api_token
        ):
            return error_response(
                401,
                "missing or wrong bearer token",
                headers={hdrs.WWW_AUTHENTICATE: 'Bearer realm="jarvis"'},
            )
    return await handler(request)


async def health(request: web.Request) -> web.Response:
    """Liveness and MQTT state; open to anyone, says whether the caller's token is valid."""
    state = request.app[STATE_KEY]
    return web.json_response(
        {
            "app": APP_NAME,
            "status": "ok",
            "version": __version__,
            "instance_id": state.instance_id,
            "mqtt": {"connected": state.mqtt.connected, "reconnects": state.mqtt.reconnects},
            "uptime_s": round(time.monotonic() - state.started_monotonic, 3),
            "authenticated": is_authenticated(request, state.api_token),
            "llm": state.llm.health(),
        }
    )


async def info(request: web.Request) -> web.Response:
    """Version, broker address (never credentials), start time and hostname."""
    state = request.app[STATE_KEY]
    broker = state.mqtt.broker
    mqtt: dict[str, Any] = {
        "host": broker.host if broker else None,
        "port": broker.port if broker else None,
        "source": broker.source if broker else None,
        "client_id": state.mqtt.client_id,
        "connected": state.mqtt.connected,
        "reconnects": state.mqtt.reconnects,
    }
    return web.json_response(
        {
            "app": APP_NAME,
            "version": __version__,
            "hostname": state.hostname,
            "started_at": state.started_at.isoformat(timespec="seconds"),
            "supervised": state.supervised,
            "mqtt": mqtt,
        }
    )


async def llm_status(request: web.Request) -> web.Response:
    """The local model: enabled, ready, which file, threads, where its OpenAI API is, why it failed."""
    return web.json_response(request.app[STATE_KEY].llm.status())


async def llm_openai(request: web.Request) -> web.StreamResponse:
    """Forward `/api/v1/llm/v1/<tail>` to the llama.cpp server's `/v1/<tail>` (token already checked)."""
    llm = request.app[STATE_KEY].llm
    upstream = llm.upstream
    if upstream is None:
        headers: dict[str, str] = {}
        if not llm.enabled:
            message = "the local model is disabled (option llm_enabled)"
        elif llm.error:
            message = f"the local model failed to start: {llm.error}"
        else:
            message = "the local model is loading"
            headers[hdrs.RETRY_AFTER] = RETRY_AFTER_LOADING
        return error_response(503, message, headers, error="llm_unavailable")
    tail = request.match_info["tail"]
    started = time.monotonic()
    response = await forward(request, upstream, tail)
    # forward() returns once the whole answer (streamed or not) went out.
    endpoint = tail if tail in KNOWN_LLM_ENDPOINTS else "other"  # bounded label values
    metrics.observe_llm_request(endpoint, response.status, time.monotonic() - started)
    return response


async def prometheus_metrics(request: web.Request) -> web.Response:
    """Prometheus text format (token already checked)."""
    return web.Response(
        body=metrics.exposition(), headers={hdrs.CONTENT_TYPE: metrics.CONTENT_TYPE}
    )


def create_app(state: ApiState) -> web.Application:
    """The aiohttp application; the caller runs it (AppRunner) and owns its lifetime."""
    app = web.Application(middlewares=[json_errors, ingress_guard, require_token])
    app[STATE_KEY] = state
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_get(f"{API_PREFIX}/info", info)
    app.router.add_get(LLM_PATH, llm_status)
    app.router.add_route("*", OPENAI_BASE_PATH + "/{tail:.*}", llm_openai)
    if state.cad is not None:
        cad_api.add_routes(app, state.cad)
    metrics.bind_mqtt(state.mqtt)
    app.router.add_get(METRICS_PATH, prometheus_metrics)
    app.router.add_get(API_PREFIX + METRICS_PATH, prometheus_metrics)
    add_ui_routes(app)
    if state.printers is not None:
        add_printer_routes(app, state.printers, API_PREFIX)
    if state.cv is not None:
        add_cv_routes(app, state.cv, API_PREFIX)
    return app
