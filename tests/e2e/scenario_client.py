"""A user's client of a real `hass` process: REST and WebSocket only, on a background event loop.

The scenario tests are plain (sync) pytest functions; everything asynchronous — the aiohttp
client, the WebSocket reader, the loopback fakes of cloud providers and UniFi Access — runs on one
event loop in a thread of its own (`Background`), so module-scoped fixtures can share it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import contextlib
from dataclasses import dataclass, field
import itertools
import threading
import time
from typing import Any

import aiohttp


class Background:
    """An asyncio loop in a daemon thread; `run` waits for a coroutine from sync code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run[T](self, coro: Coroutine[Any, Any, T], timeout: float = 180) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class HAError(Exception):
    """HA answered with an error (status or WebSocket error)."""


@dataclass
class WebSocket:
    """One authenticated `/api/websocket` connection with a reader that routes replies by id."""

    ws: aiohttp.ClientWebSocketResponse
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _waiting: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    events: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            data = msg.json()
            for item in data if isinstance(data, list) else [data]:
                if item.get("type") == "event":
                    self.events.setdefault(item["id"], []).append(item["event"])
                elif (future := self._waiting.pop(item.get("id"), None)) and not future.done():
                    future.set_result(item)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(HAError("websocket closed"))

    async def call(self, kind: str, timeout: float = 120, **data: Any) -> Any:
        msg_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = future
        await self.ws.send_json({"id": msg_id, "type": kind, **data})
        reply = await asyncio.wait_for(future, timeout)
        if not reply.get("success"):
            raise HAError(f"{kind}: {reply.get('error')}")
        return reply.get("result")

    async def subscribe(self, event_type: str) -> list[dict[str, Any]]:
        """Events of this type from now on, appended as they arrive."""
        msg_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = future
        received = self.events.setdefault(msg_id, [])
        await self.ws.send_json(
            {"id": msg_id, "type": "subscribe_events", "event_type": event_type}
        )
        reply = await asyncio.wait_for(future, 10)
        if not reply.get("success"):
            raise HAError(f"subscribe {event_type}: {reply}")
        return received

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


class HAClient:
    """REST + WebSocket as a signed-in user (a long-lived or access token)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.session = session
        self.base_url = base_url
        self.token = token

    async def request(
        self, method: str, path: str, body: Any = None, *, timeout: float = 180
    ) -> tuple[int, Any]:
        async with self.session.request(
            method,
            f"{self.base_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            text = await resp.text()
            try:
                return resp.status, (await resp.json(content_type=None)) if text else None
            except ValueError:
                return resp.status, text

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, answer = await self.request(method, path, body, **kw)
        if status >= 300:
            raise HAError(f"{method} {path}: HTTP {status} {answer}")
        return answer

    async def states(self) -> dict[str, dict[str, Any]]:
        return {s["entity_id"]: s for s in await self.ok("GET", "/api/states")}

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        status, answer = await self.request("GET", f"/api/states/{entity_id}")
        return answer if status == 200 else None

    async def call(self, domain: str, service: str, data: dict[str, Any]) -> Any:
        """A service call without a response (the states it changed)."""
        return await self.ok("POST", f"/api/services/{domain}/{service}", data)

    async def service(self, domain: str, service: str, data: dict[str, Any]) -> Any:
        """A service call with its response (`?return_response`)."""
        answer = await self.ok("POST", f"/api/services/{domain}/{service}?return_response", data)
        return answer["service_response"]

    async def websocket(self) -> WebSocket:
        ws = await self.session.ws_connect(f"{self.base_url}/api/websocket")
        await ws.receive_json()  # auth_required
        await ws.send_json({"type": "auth", "access_token": self.token})
        if (await ws.receive_json())["type"] != "auth_ok":
            raise HAError("websocket auth failed")
        socket = WebSocket(ws)
        socket.start()
        return socket

    # -- config flows, as the frontend drives them ----------------------------------------------

    async def flow(self, base: str, handler: Any, *steps: dict[str, Any]) -> dict[str, Any]:
        """Start a (sub)entry flow and answer its forms in order; the last result."""
        result = await self.ok("POST", f"{base}/flow", {"handler": handler})
        for step in steps:
            if result.get("type") != "form":
                raise HAError(f"flow {handler}: expected a form, got {result}")
            result = await self.ok("POST", f"{base}/flow/{result['flow_id']}", step)
        if result.get("type") != "create_entry":
            raise HAError(f"flow {handler} did not create an entry: {result}")
        return dict(result)

    async def subentry(self, entry_id: str, kind: str, *steps: dict[str, Any]) -> dict[str, Any]:
        return await self.flow("/api/config/config_entries/subentries", [entry_id, kind], *steps)


async def until[T](check: Callable[[], Coroutine[Any, Any, T]], timeout: float, what: str) -> T:
    """Poll an async check until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached in {timeout}s (last: {value!r})")
        await asyncio.sleep(0.1)
