"""The OpenAI proxy and `/api/v1/llm` in-process, against a loopback upstream that records requests.

The upstream is a small aiohttp server standing in for llama.cpp, so these tests can see exactly
what is (and is not) forwarded; test_llm_worker.py runs the real llama.cpp server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass, field
import json
from pathlib import Path
import time
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
import pytest
import pytest_asyncio

from jarvis_addon.llm.proxy import Upstream, valid_tail
from jarvis_addon.llm.service import LlmOptions, LocalLlm
from jarvis_addon.web import ApiState, create_app
from tests.addons.jarvis.bridge_status import BridgeStatus
from tests.support.mosquitto import free_port

TOKEN = "api-token-for-llm-tests-0123456789"
BASE = "/api/v1/llm/v1"
SSE_EVENTS = 5
SSE_GAP = 0.05


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeLlama:
    """A loopback stand-in for llama.cpp's OpenAI routes that records every request."""

    seen: list[Seen] = field(default_factory=list)
    stream_cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    async def record(self, request: web.Request) -> None:
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                await request.read(),
            )
        )

    async def chat(self, request: web.Request) -> web.Response:
        await self.record(request)
        status = int(request.query.get("status", "200"))
        return web.json_response(
            {"object": "chat.completion", "echo": self.seen[-1].body.decode()}, status=status
        )

    async def models(self, request: web.Request) -> web.Response:
        await self.record(request)
        return web.json_response({"object": "list", "data": [{"id": "fake"}]})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        try:
            for i in range(SSE_EVENTS):
                await resp.write(f"data: {json.dumps({'i': i})}\n\n".encode())
                await asyncio.sleep(SSE_GAP)
            await resp.write(b"data: [DONE]\n\n")
        except (ConnectionError, asyncio.CancelledError):
            self.stream_cancelled.set()
            raise
        return resp

    async def endless(self, request: web.Request) -> web.StreamResponse:
        """Streams until the reader goes away (as llama.cpp stops generating)."""
        await self.record(request)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        try:
            for i in range(2000):
                await resp.write(f"data: {i}\n\n".encode())
                await asyncio.sleep(0.01)
        except (ConnectionError, asyncio.CancelledError):
            self.stream_cancelled.set()
            raise
        return resp

    async def slow(self, request: web.Request) -> web.Response:
        await self.record(request)
        await asyncio.sleep(3)
        return web.json_response({})

    async def cut(self, request: web.Request) -> web.StreamResponse:
        """Sends one event, then drops the connection mid-answer."""
        await self.record(request)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"data: 0\n\n")
        assert request.transport is not None
        request.transport.close()
        return resp

    async def drop_first(self, request: web.Request) -> web.StreamResponse:
        """Closes the first connection unanswered (a stale keep-alive), answers after that."""
        await self.record(request)
        if len(self.seen) == 1:
            assert request.transport is not None
            request.transport.close()
            return web.StreamResponse()
        return web.json_response({"object": "chat.completion", "attempt": len(self.seen)})

    async def always_drop(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        assert request.transport is not None
        request.transport.close()
        return web.StreamResponse()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/stream", self.stream)
        app.router.add_post("/v1/endless", self.endless)
        app.router.add_get("/v1/slow", self.slow)
        app.router.add_post("/v1/cut", self.cut)
        app.router.add_post("/v1/drop_first", self.drop_first)
        app.router.add_post("/v1/always_drop", self.always_drop)
        return app


@dataclass
class FakeLlm:
    """What the API reads from llm.service.LocalLlm, with a chosen state."""

    enabled: bool = True
    error: str | None = None
    upstream: Upstream | None = None

    def status(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "ready": self.upstream is not None, "error": self.error}

    def health(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "ready": self.upstream is not None, "model": "fake"}


@dataclass
class Setup:
    llama: FakeLlama
    llama_url: str
    session: aiohttp.ClientSession
    make: Callable[..., Any]


@pytest_asyncio.fixture
async def setup() -> AsyncIterator[Setup]:
    llama = FakeLlama()
    upstream_server = TestServer(llama.app(), host="127.0.0.1")
    await upstream_server.start_server()
    session = aiohttp.ClientSession()
    clients: list[TestClient[Any, Any]] = []

    async def make(llm: Any) -> TestClient[Any, Any]:
        state = ApiState(
            api_token=TOKEN,
            mqtt=BridgeStatus(connected=False),
            instance_id="0123abcd",
            llm=llm,
        )
        client: TestClient[Any, Any] = TestClient(TestServer(create_app(state), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield Setup(llama, str(upstream_server.make_url("")).rstrip("/"), session, make)
    for client in clients:
        await client.close()
    await session.close()
    await upstream_server.close()


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def ready_client(s: Setup, **timeouts: float) -> TestClient[Any, Any]:
    timeout = aiohttp.ClientTimeout(**timeouts) if timeouts else None
    upstream = (
        Upstream(s.llama_url, s.session, timeout) if timeout else Upstream(s.llama_url, s.session)
    )
    client: TestClient[Any, Any] = await s.make(FakeLlm(upstream=upstream))
    return client


# -- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, auth("wrong"), {"Authorization": f"Basic {TOKEN}"}, {"X-Api-Key": TOKEN}],
)
async def test_no_valid_token_is_401_and_nothing_is_forwarded(
    setup: Setup, headers: dict[str, str]
) -> None:
    client = await ready_client(setup)
    for method, path in [("POST", "chat/completions"), ("GET", "models"), ("POST", "stream")]:
        resp = await client.request(method, f"{BASE}/{path}", headers=headers, json={"x": 1})
        assert (resp.status, resp.content_type) == (401, "application/json")
        assert (await resp.json())["error"] == "unauthorized"
    resp = await client.get("/api/v1/llm", headers=headers)
    assert resp.status == 401
    assert setup.llama.seen == []


async def test_forwards_method_path_query_body_without_credentials(setup: Setup) -> None:
    client = await ready_client(setup)
    body = {"model": "local", "messages": [{"role": "user", "content": "hi"}]}
    resp = await client.post(
        f"{BASE}/chat/completions?trace=1",
        json=body,
        headers={
            **auth(),
            "Cookie": "session=secret-cookie",
            "Origin": "http://evil.example",
            "X-Ingress-Path": "/api/hassio_ingress/x",
            "User-Agent": "OpenAI/Python 2.15.0",
        },
    )
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert (await resp.json())["echo"] == json.dumps(body)
    [seen] = setup.llama.seen
    assert (seen.method, seen.path, seen.query) == ("POST", "/v1/chat/completions", {"trace": "1"})
    assert json.loads(seen.body) == body
    lowered = {k.lower(): v for k, v in seen.headers.items()}
    assert lowered["content-type"] == "application/json"
    assert lowered["user-agent"] == "OpenAI/Python 2.15.0"
    for dropped in ("authorization", "cookie", "origin", "x-ingress-path"):
        assert dropped not in lowered, dropped
    assert TOKEN not in json.dumps(seen.headers)


async def test_status_and_content_type_are_copied(setup: Setup) -> None:
    client = await ready_client(setup)
    resp = await client.post(f"{BASE}/chat/completions?status=400", json={}, headers=auth())
    assert (resp.status, resp.content_type) == (400, "application/json")
    resp = await client.get(f"{BASE}/models", headers=auth())
    assert resp.status == 200 and (await resp.json())["data"] == [{"id": "fake"}]
    # A route llama.cpp does not have: its 404 comes through as it is.
    resp = await client.get(f"{BASE}/nope", headers=auth())
    assert resp.status == 404


async def test_server_sent_events_stream_through_chunk_by_chunk(setup: Setup) -> None:
    client = await ready_client(setup)
    started = time.monotonic()
    resp = await client.post(f"{BASE}/stream", json={"stream": True}, headers=auth())
    assert resp.status == 200
    assert resp.content_type == "text/event-stream"
    assert resp.headers["Cache-Control"] == "no-cache"
    arrivals: list[float] = []
    data = b""
    async for chunk in resp.content.iter_any():
        arrivals.append(time.monotonic() - started)
        data += chunk
    events = [e for e in data.decode().split("\n\n") if e]
    assert events == [f"data: {json.dumps({'i': i})}" for i in range(SSE_EVENTS)] + ["data: [DONE]"]
    # Passed on as produced, not buffered until the end: several reads, spread over the stream.
    assert len(arrivals) >= 3
    assert arrivals[0] < arrivals[-1] - SSE_GAP * 2


async def test_client_leaving_mid_stream_stops_the_upstream(setup: Setup) -> None:
    client = await ready_client(setup)
    resp = await client.post(f"{BASE}/endless", json={"stream": True}, headers=auth())
    assert resp.status == 200
    await resp.content.readany()
    resp.close()  # the client hangs up
    await asyncio.wait_for(setup.llama.stream_cancelled.wait(), timeout=5)


async def test_abort_all_ends_answers_in_flight_at_once(setup: Setup) -> None:
    """What stopping the worker does: the stream ends now, and the upstream connection closes."""
    upstream = Upstream(setup.llama_url, setup.session)
    client = await setup.make(FakeLlm(upstream=upstream))
    resp = await client.post(f"{BASE}/endless", json={"stream": True}, headers=auth())
    assert resp.status == 200
    await resp.content.readany()
    assert len(upstream.active) == 1
    upstream.abort_all("the local model is stopping")
    rest = b""
    with contextlib.suppress(aiohttp.ClientPayloadError):
        rest = await asyncio.wait_for(resp.content.read(), timeout=5)
    assert rest.count(b"data: ") < 100  # ended, not streamed on to the upstream's end
    await asyncio.wait_for(setup.llama.stream_cancelled.wait(), timeout=5)
    assert upstream.active == set()


# -- failures ------------------------------------------------------------------------------------


async def test_upstream_unreachable_is_502(setup: Setup) -> None:
    gone = Upstream(f"http://127.0.0.1:{free_port()}", setup.session)
    client = await setup.make(FakeLlm(upstream=gone))
    resp = await client.get(f"{BASE}/models", headers=auth())
    assert (resp.status, resp.content_type) == (502, "application/json")
    body = await resp.json()
    assert body["error"] == "llm_upstream_error" and body["message"]


async def test_a_connection_dropped_before_any_answer_is_retried_once(setup: Setup) -> None:
    """What llama.cpp does to an idle pooled connection; seen as a 502 in a CI benchmark."""
    client = await ready_client(setup)
    resp = await client.post(f"{BASE}/drop_first", json={"q": 1}, headers=auth())
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["attempt"] == 2
    assert [s.body for s in setup.llama.seen] == [b'{"q": 1}', b'{"q": 1}']
    # Dropped again: a 502 naming the problem, after exactly one retry.
    setup.llama.seen.clear()
    resp = await client.post(f"{BASE}/always_drop", json={}, headers=auth())
    assert (resp.status, resp.content_type) == (502, "application/json")
    assert (await resp.json())["error"] == "llm_upstream_error"
    assert len(setup.llama.seen) == 2


async def test_upstream_silence_is_504(setup: Setup) -> None:
    client = await ready_client(setup, total=10, sock_read=0.2)
    started = time.monotonic()
    resp = await client.get(f"{BASE}/slow", headers=auth())
    assert (resp.status, resp.content_type) == (504, "application/json")
    assert (await resp.json())["error"] == "llm_timeout"
    assert time.monotonic() - started < 2.5  # the timeout fired, not the upstream's 3 s answer


async def test_upstream_dropping_mid_answer_ends_the_stream(setup: Setup) -> None:
    client = await ready_client(setup)
    resp = await client.post(f"{BASE}/cut", json={}, headers=auth())
    assert resp.status == 200
    data = b""
    try:
        async for chunk in resp.content.iter_any():
            data += chunk
    except aiohttp.ClientPayloadError:
        pass  # also acceptable: the client sees the truncation
    assert data.startswith(b"data: 0")
    assert b"[DONE]" not in data


@pytest.mark.parametrize(
    ("llm", "message", "retry_after"),
    [
        (FakeLlm(enabled=False), "the local model is disabled (option llm_enabled)", None),
        (FakeLlm(), "the local model is loading", "5"),
        (
            FakeLlm(error="llm_model_path: /share/m.gguf does not exist"),
            "the local model failed to start: llm_model_path: /share/m.gguf does not exist",
            None,
        ),
    ],
)
async def test_not_ready_is_503_llm_unavailable(
    setup: Setup, llm: FakeLlm, message: str, retry_after: str | None
) -> None:
    client = await setup.make(llm)
    for method in ("GET", "POST"):
        resp = await client.request(method, f"{BASE}/chat/completions", headers=auth(), json={})
        assert (resp.status, resp.content_type) == (503, "application/json")
        assert await resp.json() == {"error": "llm_unavailable", "message": message}
        assert resp.headers.get("Retry-After") == retry_after


@pytest.mark.parametrize(
    "path", [f"{BASE}/", f"{BASE}/a//b", f"{BASE}/%2e%2e/health", f"{BASE}/models/%2E"]
)
async def test_odd_paths_are_not_forwarded(setup: Setup, path: str) -> None:
    client = await ready_client(setup)
    resp = await client.get(path, headers=auth())
    assert (resp.status, resp.content_type) == (404, "application/json")
    assert setup.llama.seen == []


@pytest.mark.parametrize(
    ("tail", "ok"),
    [
        ("chat/completions", True),
        ("models", True),
        ("models/SmolLM2-135M-Instruct.Q4_1", True),
        ("", False),
        ("..", False),
        ("a/../b", False),
        ("a//b", False),
        ("./models", False),
        ("models?x=1", False),
        ("a b", False),
    ],
)
def test_valid_tail(tail: str, ok: bool) -> None:
    assert valid_tail(tail) is ok


# -- status endpoints with the real service object -----------------------------------------------


async def test_llm_status_and_health_when_disabled(setup: Setup) -> None:
    client = await setup.make(LocalLlm(LlmOptions(enabled=False, threads=2)))
    resp = await client.get("/api/v1/llm", headers=auth())
    assert resp.status == 200
    assert await resp.json() == {
        "enabled": False,
        "ready": False,
        "model": None,
        "threads": 2,
        "openai_base_path": "/api/v1/llm/v1",
        "load_s": None,
        "error": None,
    }
    health = await (await client.get("/api/v1/health")).json()
    assert health["llm"] == {"enabled": False, "ready": False, "model": None}
    # The existing health keys stay (the integration parses them).
    assert {"app", "status", "version", "instance_id", "mqtt", "uptime_s", "authenticated"} <= set(
        health
    )


async def test_llm_status_reports_a_bad_model_path(setup: Setup, tmp_path: Path) -> None:
    llm = LocalLlm(LlmOptions(model_path=str(tmp_path / "missing.gguf")))
    await llm.start()
    client = await setup.make(llm)
    body = await (await client.get("/api/v1/llm", headers=auth())).json()
    assert body["enabled"] is True and body["ready"] is False and body["model"] is None
    assert body["error"] == f"llm_model_path: {tmp_path / 'missing.gguf'} does not exist"
    resp = await client.post(f"{BASE}/chat/completions", json={}, headers=auth())
    assert resp.status == 503
    await llm.stop()
