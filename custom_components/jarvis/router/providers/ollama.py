"""Ollama's native API (`/api/chat`, `/api/ps`, `/api/show`, `/api/version`) through `ollama`.

- Messages keep the system prompt as a message; tool results are role "tool" with `tool_name`;
  tool-call arguments travel as JSON objects both ways (never strings).
- Logprobs come from the native API's top-level `logprobs` (`logprobs=True, top_logprobs=5`,
  per chunk when streaming). Servers older than 0.12.11 do not know them, so they are requested
  only after `version()` says the server is new enough (fetched once, then remembered).
- `keep_alive` (default "30m") keeps the model loaded between turns; `warm` in the Completion is
  False when `load_duration` shows the model had to be loaded for this answer.
- Ollama answers a tool call its own parser could not read with HTTP 500 "error parsing tool
  call: raw='...', err=..."; that is the model's mistake, not the server's, so it comes back as a
  ToolCall with parse_error (arguments {}) instead of an error.
- is_warm() (model listed by /api/ps), capabilities() (/api/show) and supports_tools() let the
  router pick a local model that is loaded and can call tools.

The ollama SDK builds its own httpx client and takes no injected one (HA core's ollama
integration gives it its own client too), so `http_client` is not used here. The provider gives
the SDK an httpx transport of its own, built in a worker thread on first use (httpx loads
certificates while it builds one: blocking I/O that must not run in HA's event loop).
`/api/version` has no SDK call; it goes through a plain httpx client on the same transport.
close() closes that transport (the SDK has no close()).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
import re
from typing import Any

import httpx
import ollama
import pydantic

from ..types import (
    Completion,
    CompletionRequest,
    Message,
    ProviderKind,
    TextDelta,
    TokenLogprob,
    ToolCall,
    Usage,
)
from ._common import (
    PARSE_ERRORS,
    Stopwatch,
    deadline_in,
    effective_timeout,
    error_for_status,
    function_tools,
    new_call_id,
    next_before,
    normalise_finish,
    timeout_error,
    tool_call_from_object,
)
from .base import (
    ProviderError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderUnavailableError,
)

DEFAULT_KEEP_ALIVE = "30m"
TOP_LOGPROBS = 5
LOGPROBS_SINCE = (0, 12, 11)
# A load longer than this means the model was not in memory when the request came.
COLD_LOAD_NS = 500_000_000
TOOL_PARSE_ERROR = "error parsing tool call"

FINISH_REASONS = {"stop": "stop", "length": "length"}

SDK_ERRORS = (
    ollama.ResponseError,
    ollama.RequestError,
    ConnectionError,
    httpx.HTTPError,
    TimeoutError,
    ValueError,
)


def to_ollama_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Neutral messages as /api/chat messages."""
    names = {call.id: call.name for m in messages for call in m.tool_calls}
    result: list[dict[str, Any]] = []
    for message in messages:
        entry: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.role == "tool":
            entry["tool_name"] = message.name or names.get(message.tool_call_id or "", "")
        if message.tool_calls:
            entry["tool_calls"] = [
                {"function": {"name": call.name, "arguments": call.arguments}}
                for call in message.tool_calls
            ]
        result.append(entry)
    return result


def logprobs_from_ollama(logprobs: Any) -> list[TokenLogprob]:
    """The native API's `logprobs: [{token, logprob, top_logprobs}]`."""
    return [
        TokenLogprob(
            token=str(item.token),
            logprob=float(item.logprob),
            top_logprobs=tuple(
                (str(alt.token), float(alt.logprob)) for alt in (item.top_logprobs or ())
            ),
        )
        for item in logprobs or ()
    ]


def parse_version(text: str) -> tuple[int, ...]:
    """'0.12.11' -> (0, 12, 11); suffixes like '-rc1' are ignored."""
    return tuple(
        int(match.group(1)) for match in re.finditer(r"(\d+)", text.split("-", maxsplit=1)[0])
    )


def malformed_tool_call(error: str, call_id: str) -> ToolCall:
    """A ToolCall for Ollama's "error parsing tool call: raw='...', err=..." answer."""
    raw_match = re.search(r"raw='(.*)', err=", error, re.DOTALL)
    raw = raw_match.group(1) if raw_match else None
    name_match = re.search(r'"name"\s*:\s*"([^"]+)"', raw or "")
    return ToolCall(
        id=call_id,
        name=name_match.group(1) if name_match else "",
        arguments={},
        raw_arguments=raw,
        parse_error=error,
    )


def translate_error(err: Exception, timeout: float) -> ProviderError:
    """An ollama SDK / transport exception as the router's typed error."""
    if isinstance(err, (TimeoutError, httpx.TimeoutException)):
        return timeout_error(timeout)
    if isinstance(err, (ConnectionError, httpx.TransportError)):
        return ProviderUnavailableError(f"cannot reach Ollama: {err}")
    if isinstance(err, ollama.ResponseError):
        if err.status_code == -1:  # an {"error": ...} line inside a stream
            return ProviderUnavailableError(f"Ollama reported an error: {err.error}")
        return error_for_status(err.status_code, str(err.error))
    if isinstance(err, httpx.HTTPStatusError):
        return error_for_status(err.response.status_code, err.response.text[:200])
    return ProviderResponseError(f"unreadable answer: {err}")


def _is_tool_parse_error(err: Exception) -> bool:
    return isinstance(err, ollama.ResponseError) and str(err.error).startswith(TOOL_PARSE_ERROR)


class _Answer:
    """What an answer (or a stream, chunk by chunk) has said so far."""

    def __init__(self, model: str) -> None:
        self.text: list[str] = []
        self.calls: list[ToolCall] = []
        self.logprobs: list[TokenLogprob] = []
        self.finish: str | None = None
        self.usage = Usage()
        self.model = model
        self.warm: bool | None = None

    def next_id(self) -> str:
        return new_call_id()

    def add(self, response: ollama.ChatResponse) -> str:
        """Take in one response or chunk; returns its new text."""
        self.model = response.model or self.model
        message = response.message
        for call in message.tool_calls or ():
            self.calls.append(
                tool_call_from_object(self.next_id(), call.function.name, call.function.arguments)
            )
        self.logprobs.extend(logprobs_from_ollama(response.logprobs))
        if response.done:
            self.finish = response.done_reason
            self.usage = Usage(
                input_tokens=response.prompt_eval_count or 0,
                output_tokens=response.eval_count or 0,
            )
            if response.load_duration is not None:
                self.warm = response.load_duration < COLD_LOAD_NS
        piece = message.content or ""
        if piece:
            self.text.append(piece)
        return piece

    def completion(self, *, with_logprobs: bool) -> Completion:
        finish = normalise_finish(self.finish, FINISH_REASONS)
        if self.calls and finish in (None, "stop"):
            finish = "tool_calls"
        return Completion(
            text="".join(self.text),
            tool_calls=tuple(self.calls),
            finish_reason=finish,
            logprobs=tuple(self.logprobs) if with_logprobs else None,
            usage=self.usage,
            model=self.model,
            warm=self.warm,
        )


class OllamaProvider:
    """One model on an Ollama server."""

    kind = ProviderKind.OLLAMA

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None,
        api_key: str | None = None,
        timeout: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
        keep_alive: str | float = DEFAULT_KEEP_ALIVE,
    ) -> None:
        """An Ollama server needs its base_url (e.g. http://127.0.0.1:11434).

        http_client is accepted like every provider's, and unused: the ollama SDK takes none.
        """
        if not base_url:
            raise ValueError("Ollama needs a base_url")
        self.model = model
        self.timeout = timeout
        self.keep_alive = keep_alive
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # The SDK client and a plain httpx client for /api/version, on one transport.
        self._pair: tuple[ollama.AsyncClient, httpx.AsyncClient] | None = None
        self._client_lock = asyncio.Lock()
        self._version: tuple[int, ...] | None = None

    def _build_clients(self) -> tuple[ollama.AsyncClient, httpx.AsyncClient]:
        """Runs in a worker thread: httpx loads certificates while a transport is built."""
        transport = httpx.AsyncHTTPTransport()
        client = ollama.AsyncClient(
            host=self._base_url, timeout=self.timeout, headers=self._headers, transport=transport
        )
        plain = httpx.AsyncClient(
            base_url=self._base_url,
            timeout=self.timeout,
            headers=self._headers,
            transport=transport,
        )
        return client, plain

    async def _clients(self) -> tuple[ollama.AsyncClient, httpx.AsyncClient]:
        async with self._client_lock:
            if self._pair is None:
                self._pair = await asyncio.to_thread(self._build_clients)
            return self._pair

    async def _sdk(self) -> ollama.AsyncClient:
        return (await self._clients())[0]

    async def _call[T](self, what: str, call: Any) -> T:
        """Run one SDK call with the provider's timeout and typed errors."""
        try:
            async with asyncio.timeout(self.timeout):
                result: T = await call
        except SDK_ERRORS as err:
            raise translate_error(err, self.timeout) from err
        except pydantic.ValidationError as err:
            raise ProviderResponseError(f"malformed {what} answer: {err}") from err
        return result

    async def version(self) -> str:
        """The server's version (GET /api/version)."""
        _, plain = await self._clients()
        try:
            async with asyncio.timeout(self.timeout):
                response = await plain.get("/api/version")
                response.raise_for_status()
                body = response.json()
        except (httpx.HTTPError, TimeoutError, ValueError) as err:
            raise translate_error(err, self.timeout) from err
        if not isinstance(body, dict) or not isinstance(body.get("version"), str):
            raise ProviderResponseError(f"no version in {body!r:.200}")
        return str(body["version"])

    async def supports_logprobs(self) -> bool:
        """Whether the server returns logprobs (0.12.11 and later); asks once, then remembers."""
        if self._version is None:
            try:
                self._version = parse_version(await self.version())
            except (ProviderRequestError, ProviderResponseError):
                self._version = ()  # the server cannot say: treat it as too old, for good
            except ProviderError:
                return False  # unreachable now: ask again next time, send no logprobs now
        return self._version >= LOGPROBS_SINCE

    async def is_warm(self) -> bool:
        """Whether the model is loaded now (listed by /api/ps)."""
        client = await self._sdk()
        loaded: ollama.ProcessResponse = await self._call("ps", client.ps())
        wanted = _with_tag(self.model)
        return any(
            _with_tag(entry.model or "") == wanted or _with_tag(entry.name or "") == wanted
            for entry in loaded.models
        )

    async def capabilities(self) -> frozenset[str]:
        """What the model can do (/api/show `capabilities`: completion, tools, vision, ...)."""
        client = await self._sdk()
        shown: ollama.ShowResponse = await self._call("show", client.show(self.model))
        return frozenset(shown.capabilities or ())

    async def supports_tools(self) -> bool:
        """Whether the model can call tools."""
        return "tools" in await self.capabilities()

    async def warm_up(self) -> None:
        """Load the model (POST /api/generate with no prompt), kept for `keep_alive`."""
        client = await self._sdk()
        await self._call("generate", client.generate(model=self.model, keep_alive=self.keep_alive))

    async def _params(self, request: CompletionRequest) -> tuple[dict[str, Any], bool]:
        options: dict[str, Any] = {"num_predict": request.max_output_tokens}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        params: dict[str, Any] = {
            "model": self.model,
            "messages": to_ollama_messages(request.messages),
            "options": options,
            "keep_alive": self.keep_alive,
        }
        if request.tools:
            params["tools"] = function_tools(request.tools)
        if request.json_schema is not None:
            params["format"] = request.json_schema
        with_logprobs = request.want_logprobs and await self.supports_logprobs()
        if with_logprobs:
            params["logprobs"] = True
            params["top_logprobs"] = TOP_LOGPROBS
        return params, with_logprobs

    async def complete(self, request: CompletionRequest) -> Completion:
        """One non-streaming /api/chat call."""
        timeout = effective_timeout(self.timeout, request)
        client = await self._sdk()
        params, with_logprobs = await self._params(request)
        answer = _Answer(self.model)
        watch = Stopwatch()
        try:
            async with asyncio.timeout(timeout):
                response = await client.chat(**params, stream=False)
            answer.add(response)
        except SDK_ERRORS as err:
            if not _is_tool_parse_error(err):
                raise translate_error(err, timeout) from err
            answer.calls.append(
                malformed_tool_call(str(getattr(err, "error", err)), answer.next_id())
            )
        except (pydantic.ValidationError, *PARSE_ERRORS) as err:
            raise ProviderResponseError(f"malformed chat answer: {err}") from err
        return replace(answer.completion(with_logprobs=with_logprobs), latency_ms=watch.latency_ms)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[TextDelta | Completion]:
        """Streaming /api/chat (NDJSON): TextDelta per content piece, then one Completion."""
        timeout = effective_timeout(self.timeout, request)
        client = await self._sdk()
        params, with_logprobs = await self._params(request)
        deadline = deadline_in(timeout)
        answer = _Answer(self.model)
        watch = Stopwatch()
        chunks: AsyncIterator[ollama.ChatResponse] | None = None
        try:
            async with asyncio.timeout_at(deadline):
                chunks = await client.chat(**params, stream=True)
            while True:
                try:
                    chunk = await next_before(chunks, deadline)
                except StopAsyncIteration:
                    break
                calls_before = len(answer.calls)
                piece = answer.add(chunk)
                if piece or len(answer.calls) > calls_before:
                    watch.first_content()
                if piece:
                    yield TextDelta(piece)
        except SDK_ERRORS as err:
            if not _is_tool_parse_error(err):
                raise translate_error(err, timeout) from err
            answer.calls.append(
                malformed_tool_call(str(getattr(err, "error", err)), answer.next_id())
            )
        except (pydantic.ValidationError, *PARSE_ERRORS) as err:
            raise ProviderResponseError(f"malformed chat chunk: {err}") from err
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        yield replace(
            answer.completion(with_logprobs=with_logprobs),
            latency_ms=watch.latency_ms,
            ttft_ms=watch.ttft_ms,
        )

    async def close(self) -> None:
        """Close the provider's transport (the SDK's client and the plain one share it)."""
        if self._pair is not None:
            await self._pair[1].aclose()
            self._pair = None


def _with_tag(name: str) -> str:
    """Ollama's implicit ":latest" tag made explicit, so "llama3.2" matches "llama3.2:latest"."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
