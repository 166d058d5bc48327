"""OpenAI Chat Completions through the official `openai` SDK.

One implementation, two kinds:
- `OpenAIProvider` (ProviderKind.OPENAI): OpenAI's cloud; base_url optional (default the official
  endpoint), API key required, `max_completion_tokens` (reasoning models reject `max_tokens`).
- `OpenAICompatibleProvider` (ProviderKind.OPENAI_COMPATIBLE): llama.cpp server, LM Studio, MLX,
  vLLM and the add-on's bundled model; base_url required, API key optional, `max_tokens` (what
  every compatible server understands).

Logprobs (`logprobs=True, top_logprobs=5`) are requested only on non-streaming calls: llama.cpp's
server rejects `logprobs` combined with tools and streaming, and the router reads logprobs from
complete() (it decides the route before it streams). OpenAI's reasoning models (o1/o3/o4/gpt-5)
reject logprobs, so they are never requested from them.

Inside Home Assistant the SDK runs on HA's shared httpx client (as HA core's openai_conversation
does); close() leaves an injected client open. SDK retries are off: failover is the router's job.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

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
    arguments_json,
    deadline_in,
    effective_timeout,
    function_tools,
    new_call_id,
    next_before,
    normalise_finish,
    tool_call_from_json,
)
from ._stainless import translate_sdk_error
from .base import ProviderError, ProviderResponseError

OFFICIAL_BASE_URL = "https://api.openai.com/v1"
TOP_LOGPROBS = 5
# Compatible servers that check no key still need the SDK to send one.
NO_KEY = "no-key"
REASONING_MODEL_PREFIXES = ("o1", "o3", "o4", "gpt-5")

FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}

# What the SDK (and the transport under it) raises; everything else is a bug and propagates.
SDK_ERRORS = (openai.OpenAIError, httpx.HTTPError, TimeoutError, ValueError)


def to_openai_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Neutral messages as Chat Completions messages (system prompt stays a message)."""
    result: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            result.append(
                {
                    "role": "tool",
                    "tool_call_id": message.tool_call_id or "",
                    "content": message.content,
                }
            )
        elif message.role == "assistant" and message.tool_calls:
            result.append(
                {
                    "role": "assistant",
                    "content": message.content,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": arguments_json(call)},
                        }
                        for call in message.tool_calls
                    ],
                }
            )
        else:
            result.append({"role": message.role, "content": message.content})
    return result


def usage_from_openai(usage: Any) -> Usage:
    """Chat Completions usage (prompt_tokens includes cached, completion_tokens reasoning)."""
    if usage is None:
        return Usage()
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    completion_details = getattr(usage, "completion_tokens_details", None)
    return Usage(
        input_tokens=int(usage.prompt_tokens or 0),
        output_tokens=int(usage.completion_tokens or 0),
        cached_input_tokens=int(getattr(prompt_details, "cached_tokens", None) or 0),
        reasoning_tokens=int(getattr(completion_details, "reasoning_tokens", None) or 0),
    )


def logprobs_from_openai(logprobs: Any) -> tuple[TokenLogprob, ...] | None:
    """`choices[0].logprobs.content[]` as TokenLogprobs (None when the server sent none)."""
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if content is None:
        return None
    return tuple(
        TokenLogprob(
            token=str(item.token),
            logprob=float(item.logprob),
            top_logprobs=tuple(
                (str(alt.token), float(alt.logprob)) for alt in (item.top_logprobs or ())
            ),
        )
        for item in content
    )


def translate_error(err: Exception, timeout: float) -> ProviderError:
    """An openai SDK / transport exception as the router's typed error."""
    return translate_sdk_error(err, timeout, openai, "the server")


class _ChatCompletionsProvider:
    """Shared Chat Completions implementation; the two subclasses differ in kind and limits."""

    kind: ProviderKind
    max_tokens_param = "max_tokens"

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None,
        api_key: str | None,
        timeout: float,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        """Configure one model; with http_client the SDK uses it (and close() leaves it open)."""
        self.model = model
        self.timeout = timeout
        self._owns_client = http_client is None
        self._client = openai.AsyncOpenAI(
            api_key=api_key or NO_KEY,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )

    def _wants_logprobs(self, request: CompletionRequest) -> bool:
        return request.want_logprobs

    def _params(self, request: CompletionRequest, *, stream: bool) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(request.messages),
            self.max_tokens_param: request.max_output_tokens,
        }
        if request.tools:
            params["tools"] = function_tools(request.tools)
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.json_schema is not None:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": request.json_schema},
            }
        if stream:
            params["stream_options"] = {"include_usage": True}
        elif self._wants_logprobs(request):
            params["logprobs"] = True
            params["top_logprobs"] = TOP_LOGPROBS
        return params

    async def complete(self, request: CompletionRequest) -> Completion:
        """One non-streaming Chat Completions call."""
        timeout = effective_timeout(self.timeout, request)
        watch = Stopwatch()
        try:
            async with asyncio.timeout(timeout):
                response = await self._client.chat.completions.create(
                    **self._params(request, stream=False), stream=False, timeout=timeout
                )
        except SDK_ERRORS as err:
            raise translate_error(err, timeout) from err
        if not isinstance(response, ChatCompletion):
            raise ProviderResponseError(f"not a chat completion: {str(response)[:200]!r}")
        try:
            return self._completion(response, watch.latency_ms)
        except PARSE_ERRORS as err:
            raise ProviderResponseError(f"malformed chat completion: {err}") from err

    def _completion(self, response: ChatCompletion, latency_ms: float) -> Completion:
        choice = response.choices[0]
        message = choice.message
        calls = tuple(
            tool_call_from_json(
                call.id or new_call_id(),
                call.function.name,
                call.function.arguments,
            )
            for call in message.tool_calls or ()
            if call.type == "function"
        )
        return Completion(
            text=message.content or "",
            tool_calls=calls,
            finish_reason=normalise_finish(choice.finish_reason, FINISH_REASONS),
            logprobs=logprobs_from_openai(choice.logprobs),
            usage=usage_from_openai(response.usage),
            model=response.model or self.model,
            latency_ms=latency_ms,
        )

    async def stream(self, request: CompletionRequest) -> AsyncIterator[TextDelta | Completion]:
        """Stream Chat Completions chunks: TextDelta per content piece, then one Completion."""
        timeout = effective_timeout(self.timeout, request)
        deadline = deadline_in(timeout)
        watch = Stopwatch()
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish: str | None = None
        usage = Usage()
        model = self.model
        sdk_stream: openai.AsyncStream[ChatCompletionChunk] | None = None
        try:
            async with asyncio.timeout_at(deadline):
                sdk_stream = await self._client.chat.completions.create(
                    **self._params(request, stream=True), stream=True, timeout=timeout
                )
            while True:
                try:
                    chunk = await next_before(sdk_stream, deadline)
                except StopAsyncIteration:
                    break
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = usage_from_openai(chunk.usage)
                for choice in chunk.choices:
                    if choice.index != 0:
                        continue
                    if choice.finish_reason is not None:
                        finish = choice.finish_reason
                    delta = choice.delta
                    for fragment in delta.tool_calls or ():
                        watch.first_content()
                        entry = calls.setdefault(
                            fragment.index, {"id": "", "name": "", "arguments": ""}
                        )
                        if fragment.id:
                            entry["id"] = fragment.id
                        if fragment.function is not None:
                            if fragment.function.name:
                                entry["name"] += fragment.function.name
                            if fragment.function.arguments:
                                entry["arguments"] += fragment.function.arguments
                    if delta.content:
                        watch.first_content()
                        text.append(delta.content)
                        yield TextDelta(delta.content)
        except SDK_ERRORS as err:
            raise translate_error(err, timeout) from err
        except PARSE_ERRORS as err:
            raise ProviderResponseError(f"malformed stream chunk: {err}") from err
        finally:
            if sdk_stream is not None:
                await sdk_stream.close()
        tool_calls: tuple[ToolCall, ...] = tuple(
            tool_call_from_json(entry["id"] or new_call_id(), entry["name"], entry["arguments"])
            for _, entry in sorted(calls.items())
        )
        yield Completion(
            text="".join(text),
            tool_calls=tool_calls,
            finish_reason=normalise_finish(finish, FINISH_REASONS),
            usage=usage,
            model=model,
            latency_ms=watch.latency_ms,
            ttft_ms=watch.ttft_ms,
        )

    async def close(self) -> None:
        """Close the SDK's own HTTP client; an injected (HA-shared) one stays open."""
        if self._owns_client:
            await self._client.close()


class OpenAICompatibleProvider(_ChatCompletionsProvider):
    """A local OpenAI-compatible server (llama.cpp, LM Studio, MLX, vLLM, the add-on's model)."""

    kind = ProviderKind.OPENAI_COMPATIBLE

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None,
        api_key: str | None = None,
        timeout: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        """A compatible server needs its base_url (e.g. http://127.0.0.1:8080/v1)."""
        if not base_url:
            raise ValueError("an OpenAI-compatible server needs a base_url")
        super().__init__(
            model=model,
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            http_client=http_client,
        )


class OpenAIProvider(_ChatCompletionsProvider):
    """OpenAI's cloud (or anything standing in for it at base_url)."""

    kind = ProviderKind.OPENAI
    max_tokens_param = "max_completion_tokens"

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None,
        timeout: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        """OpenAI needs an API key; base_url defaults to the official endpoint."""
        if not api_key:
            raise ValueError("OpenAI needs an API key")
        super().__init__(
            model=model,
            base_url=base_url or OFFICIAL_BASE_URL,
            api_key=api_key,
            timeout=timeout,
            http_client=http_client,
        )

    def _wants_logprobs(self, request: CompletionRequest) -> bool:
        return request.want_logprobs and not self.model.startswith(REASONING_MODEL_PREFIXES)
