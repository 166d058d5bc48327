"""Reverse proxy from the add-on's API to the loopback llama.cpp server's OpenAI-compatible `/v1/`.

The caller has already checked the bearer token. Only a few request headers are forwarded (never
`Authorization`, cookies or `Origin`); the answer's status and content type are copied and its body
is streamed through chunk by chunk, so server-sent events reach the client as they are generated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import logging
import re
from typing import Final

import aiohttp
from aiohttp import hdrs, web

_LOGGER = logging.getLogger(__name__)

# Request headers worth passing on; everything else (Authorization above all) stays here.
FORWARDED_REQUEST_HEADERS: Final = (hdrs.CONTENT_TYPE, hdrs.ACCEPT, hdrs.USER_AGENT)
CONNECT_TIMEOUT: Final = 5.0
# Longest silence between two chunks of an answer. A long prompt on a slow CPU is read before the
# first token; streaming answers get a keep-alive from llama.cpp every 30 s.
READ_TIMEOUT: Final = 300.0
TOTAL_TIMEOUT: Final = 900.0
_SEGMENT_RE: Final = re.compile(r"[A-Za-z0-9_\-.:]+")


def default_timeout() -> aiohttp.ClientTimeout:
    """Timeouts for one proxied request."""
    return aiohttp.ClientTimeout(
        total=TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT
    )


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where the llama.cpp server listens (`http://127.0.0.1:<port>`) and how to reach it."""

    base_url: str
    session: aiohttp.ClientSession
    timeout: aiohttp.ClientTimeout = field(default_factory=default_timeout)
    # Answers being streamed right now, so that stopping can end them (see abort_all).
    active: set[aiohttp.ClientResponse] = field(default_factory=set)

    def abort_all(self, reason: str) -> None:
        """End every answer in flight now: its reader fails, its connection to llama.cpp closes.

        Closing the session alone does not wake a reader waiting for the next chunk (aiohttp
        detaches the payload before it closes the connection), and llama.cpp notices a stopped
        server only at its next keep-alive, 30 s later; a closed connection it notices at once.
        """
        for answer in list(self.active):
            answer.content.set_exception(aiohttp.ServerDisconnectedError(reason))
            answer.close()


def valid_tail(tail: str) -> bool:
    """A path below `/v1/` made of plain segments: no `.` or `..`, no empty segments."""
    segments = tail.split("/")
    return all(_SEGMENT_RE.fullmatch(seg) and seg not in (".", "..") for seg in segments)


def proxy_error(status: int, error: str, message: str) -> web.Response:
    """The add-on's JSON error shape."""
    return web.json_response({"error": error, "message": message}, status=status)


async def forward(
    request: web.Request,
    upstream: Upstream,
    tail: str,
) -> web.StreamResponse:
    """Send the request to `<upstream>/v1/<tail>` and stream the answer back."""
    if not valid_tail(tail):
        return proxy_error(404, "not_found", f"no route for {request.method} {request.path}")
    url = f"{upstream.base_url}/v1/{tail}"
    headers = {
        name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS if name in request.headers
    }
    headers[hdrs.ACCEPT_ENCODING] = "identity"  # pass bytes through as they are
    body = await request.read() if request.body_exists else None

    async def send() -> web.StreamResponse:
        async with upstream.session.request(
            request.method,
            url,
            params=request.rel_url.query,
            data=body,
            headers=headers,
            timeout=upstream.timeout,
            allow_redirects=False,
            auto_decompress=False,
        ) as answer:
            upstream.active.add(answer)
            try:
                return await _pass_on(request, answer, url)
            finally:
                upstream.active.discard(answer)

    try:
        try:
            return await send()
        except aiohttp.ServerDisconnectedError as err:
            # Before any answer: most likely a pooled connection llama.cpp closed while idle
            # (its keep-alive is shorter than ours). Nothing was answered, so asking once more
            # on a fresh connection repeats nothing the caller saw; a second drop is a 502.
            _LOGGER.debug("Local model: %s %s: %r; retrying", request.method, url, err)
            return await send()
    except TimeoutError:
        return proxy_error(504, "llm_timeout", "the local model did not answer in time")
    except aiohttp.ClientError as err:
        _LOGGER.warning("Local model: %s %s failed: %r", request.method, url, err)
        return proxy_error(502, "llm_upstream_error", f"the local model server failed: {err}")


async def _pass_on(
    request: web.Request, answer: aiohttp.ClientResponse, url: str
) -> web.StreamResponse:
    """Status, content type and body of the upstream answer, the body as it arrives."""
    response = web.StreamResponse(status=answer.status, reason=answer.reason)
    if hdrs.CONTENT_TYPE in answer.headers:
        response.headers[hdrs.CONTENT_TYPE] = answer.headers[hdrs.CONTENT_TYPE]
    if answer.content_type == "text/event-stream":
        response.headers[hdrs.CACHE_CONTROL] = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"  # no buffering in front proxies
    elif answer.content_length is not None:
        response.content_length = answer.content_length
    await response.prepare(request)
    await _stream(request, answer, response, url)
    return response


async def _stream(
    request: web.Request,
    answer: aiohttp.ClientResponse,
    response: web.StreamResponse,
    url: str,
) -> None:
    """Copy the body chunk by chunk; a failure on either side ends it and drops the other side."""
    while True:
        try:
            chunk = await answer.content.readany()
        except (TimeoutError, aiohttp.ClientError, RuntimeError) as err:
            # RuntimeError("Connection closed."): aiohttp's word for a connection closed under us.
            # Headers are already out, so the status cannot change: end the stream early.
            _LOGGER.warning("Local model: answer to %s %s cut short: %r", request.method, url, err)
            answer.close()
            return
        if not chunk:
            await response.write_eof()
            return
        try:
            await response.write(chunk)
        except ConnectionError:
            # The client went away: closing our connection makes llama.cpp stop generating.
            _LOGGER.debug("Local model: client left during %s %s", request.method, url)
            answer.close()
            return
