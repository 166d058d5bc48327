"""A loopback HTTP server that the official SDK under test talks to.

Each provider module (openai, anthropic, gemini, ollama, perplexity) subclasses FakeServer and adds
builders for its documented wire format. Tests script replies per path (first in, first out),
read back what the SDK sent, and provoke failures: error statuses, malformed bodies, slow answers
(for timeouts) and refused connections (a port nothing listens on).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
import contextlib
from dataclasses import dataclass, field
import json
from typing import Any

from aiohttp import web

from custom_components.jarvis.router.types import Completion, TextDelta
from tests.support.loopback import HOST, LoopbackServer
from tests.support.mosquitto import free_port


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    """One scripted answer.

    Either a whole body (json, or raw text) or a stream of pieces written one after another
    (SSE events, NDJSON lines). delay holds the answer back (before the status line); chunk_delay
    spaces the stream's pieces.
    """

    status: int = 200
    json: Any = None
    text: str | None = None
    chunks: Sequence[str] | None = None
    content_type: str = "application/json"
    delay: float = 0.0
    chunk_delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    # (i, ready): hold the stream before chunk i until ready() (polled; at most GATE_TIMEOUT s),
    # so a test can order the stream against another peer without relying on timing.
    gate: tuple[int, Callable[[], bool]] | None = None


GATE_TIMEOUT = 30.0


def json_reply(body: Any, status: int = 200) -> Reply:
    """A JSON body."""
    return Reply(status=status, json=body)


def malformed_json_reply() -> Reply:
    """A 200 that claims JSON and is not."""
    return Reply(text='{"id": "oops", "choices": [', content_type="application/json")


def slow_reply(seconds: float = 5.0) -> Reply:
    """An answer that comes too late (the client's timeout must fire first)."""
    return Reply(json={}, delay=seconds)


def refused_url() -> str:
    """A loopback URL where nothing listens: connecting is refused."""
    return f"http://{HOST}:{free_port()}"


class FakeServer(LoopbackServer):
    """Serve scripted replies on a free 127.0.0.1 port and record every request."""

    def __init__(self) -> None:
        """A server that is not started yet."""
        super().__init__()
        self.requests: list[Recorded] = []
        self._scripts: dict[str, deque[Reply]] = {}
        self._defaults: dict[str, Reply] = {}
        self._stopping = asyncio.Event()

    def routes(self, app: web.Application) -> None:
        """Every path: the scripts decide."""
        app.router.add_route("*", "/{tail:.*}", self._handle)

    async def stop(self) -> None:
        """Stop listening; replies still held back are abandoned."""
        self._stopping.set()
        await super().stop()

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to path with these replies, in order."""
        self._scripts.setdefault(path, deque()).extend(replies)

    def default(self, path: str, reply: Reply) -> None:
        """Answer requests to path with this reply once its script is used up."""
        self._defaults[path] = reply

    def requests_to(self, path: str) -> list[Recorded]:
        """The requests received for path, oldest first."""
        return [r for r in self.requests if r.path == path]

    @property
    def last(self) -> Recorded:
        """The latest request."""
        return self.requests[-1]

    def not_found(self, path: str) -> Reply:
        """The reply for a path nothing was scripted for (providers override the body)."""
        return Reply(status=404, json={"error": f"nothing scripted for {path}"})

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._stopping.wait()

    async def _hold(self, ready: Callable[[], bool]) -> None:
        deadline = asyncio.get_running_loop().time() + GATE_TIMEOUT
        while not ready() and asyncio.get_running_loop().time() < deadline:
            await self._wait(0.02)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=await request.read(),
            )
        )
        queue = self._scripts.get(request.path)
        if queue:
            reply = queue.popleft()
        else:
            reply = self._defaults.get(request.path) or self.not_found(request.path)
        await self._wait(reply.delay)
        if reply.chunks is None:
            if reply.text is not None:
                return web.Response(
                    status=reply.status,
                    text=reply.text,
                    content_type=reply.content_type,
                    headers=reply.headers,
                )
            return web.json_response(reply.json, status=reply.status, headers=reply.headers)
        response = web.StreamResponse(
            status=reply.status, headers={"Content-Type": reply.content_type, **reply.headers}
        )
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for i, chunk in enumerate(reply.chunks):
                if reply.gate is not None and reply.gate[0] == i:
                    await self._hold(reply.gate[1])
                await response.write(chunk.encode())
                await self._wait(reply.chunk_delay)
            await response.write_eof()
        return response


async def collect(
    stream: AsyncIterator[TextDelta | Completion],
) -> tuple[list[str], Completion]:
    """Drain a provider stream: its text deltas, and the one Completion that must end it."""
    deltas: list[str] = []
    completions: list[Completion] = []
    async for item in stream:
        assert not completions, "nothing may follow the Completion"
        if isinstance(item, TextDelta):
            deltas.append(item.text)
        else:
            assert isinstance(item, Completion)
            completions.append(item)
    assert len(completions) == 1
    return deltas, completions[0]


async def drain(
    stream: AsyncIterator[TextDelta | Completion], into: list[TextDelta | Completion]
) -> None:
    """Read a provider stream into a list, one item at a time (what came before an error stays)."""
    async for item in stream:
        into.append(item)  # noqa: PERF401 - items must land before a later one raises
