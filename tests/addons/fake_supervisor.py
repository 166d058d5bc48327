"""A fake Home Assistant Supervisor: a real aiohttp server on loopback, in its own thread.

It speaks the Supervisor's wire format for the three calls the add-on makes (see
supervisor/api/utils.py, services.py, discovery.py, addons.py): `{"result": "ok", "data": {...}}`,
or HTTP 400 `{"result": "error", "message": ...}`; 401 without a token, 403 with a wrong one.
Running in a thread lets synchronous tests (which block on subprocesses) and async tests share it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import threading
from typing import Any
import uuid

from aiohttp import web

from tests.support.mosquitto import free_port


@dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    authorization: str | None
    body: Any = None


@dataclass
class FakeSupervisor:
    """Configure `mqtt`, `hostname`, `failures` and `delays`; read `requests` and `discoveries`."""

    token: str = "fake-supervisor-token-0123456789"
    hostname: str = "local-jarvis"
    discovery_services: tuple[str, ...] = ("jarvis",)
    # GET /services/mqtt data (without `addon`); None = no provider ("Service not enabled").
    mqtt: dict[str, Any] | None = None
    # path -> (HTTP status, JSON body or raw text) answered instead of the normal handler.
    failures: dict[str, tuple[int, Any]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    discoveries: list[dict[str, Any]] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    _uuids: dict[str, str] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeSupervisor:
        self.port = self.port or free_port(self.host)
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as err:  # noqa: BLE001 - handed to the starting thread
                errors.append(err)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-supervisor", daemon=True)
        self._thread.start()
        if not ready.wait(10) or errors:
            raise RuntimeError(f"fake Supervisor did not start: {errors}")
        return self

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/services/mqtt", self._services_mqtt)
        app.router.add_get("/addons/self/info", self._self_info)
        app.router.add_post("/discovery", self._discovery)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    # -- wire format helpers -------------------------------------------------------------------

    @staticmethod
    def _ok(data: dict[str, Any]) -> web.Response:
        return web.json_response({"result": "ok", "data": data})

    @staticmethod
    def _error(message: str, status: int = 400) -> web.Response:
        return web.json_response({"result": "error", "message": message}, status=status)

    async def _gate(self, request: web.Request) -> web.Response | None:
        """Record, delay, check the token, apply a configured failure; None = carry on."""
        body = await request.json() if request.can_read_body else None
        auth = request.headers.get("Authorization")
        self.requests.append(Recorded(request.method, request.path, auth, body))
        if delay := self.delays.get(request.path):
            await asyncio.sleep(delay)
        # As supervisor/api/utils.py extract_supervisor_token(): the last word of the header.
        presented = (auth or "").split(" ")[-1]
        if not presented:
            raise web.HTTPUnauthorized
        if presented != self.token:
            raise web.HTTPForbidden
        if request.path in self.failures:
            status, payload = self.failures[request.path]
            if isinstance(payload, str):
                return web.Response(status=status, text=payload, content_type="text/plain")
            return web.json_response(payload, status=status)
        return None

    async def _services_mqtt(self, request: web.Request) -> web.Response:
        if (early := await self._gate(request)) is not None:
            return early
        if self.mqtt is None:
            return self._error("Service not enabled")
        return self._ok({"addon": "core_mosquitto", "ssl": False, "protocol": "3.1.1", **self.mqtt})

    async def _self_info(self, request: web.Request) -> web.Response:
        if (early := await self._gate(request)) is not None:
            return early
        return self._ok(
            {
                "name": "Jarvis",
                "slug": "local_jarvis",
                "hostname": self.hostname,
                "state": "started",
            }
        )

    async def _discovery(self, request: web.Request) -> web.Response:
        if (early := await self._gate(request)) is not None:
            return early
        body = self.requests[-1].body
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("service"), str)
            or not isinstance(body.get("config"), dict)
        ):
            return self._error("expected {'service': str, 'config': dict}")
        if body["service"] not in self.discovery_services:
            return self._error(
                "Add-ons must list services they provide via discovery in their config!", 403
            )
        self.discoveries.append(body)
        # Like the Supervisor: an identical message keeps its uuid.
        key = repr(sorted(body["config"].items()))
        msg_uuid = self._uuids.setdefault(key, uuid.uuid4().hex)
        return self._ok({"uuid": msg_uuid})
