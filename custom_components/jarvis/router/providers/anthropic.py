"""Anthropic's Messages API through the official `anthropic` SDK.

- The system prompt goes in the separate `system` parameter; tool results travel as `tool_result`
  blocks in a user turn; consecutive same-role turns are merged (tool results of one assistant
  turn must arrive together).
- `max_tokens` is required (the request's max_output_tokens).
- Streaming reads the SDK's raw server-sent events (`messages.create(stream=True)`, as HA core's
  anthropic integration does) rather than the `messages.stream()` helper: the helper's accumulator
  parses `input_json_delta` fragments as it goes and raises on malformed tool input, which must
  come back as a ToolCall with parse_error instead.
- Structured output (`json_schema`) is a forced tool whose input is the answer (HA core's way).
- No logprobs (Completion.logprobs is None).
- Usage: `input_tokens` here is the whole prompt (Anthropic's uncached input plus cache reads and
  cache writes, see router/pricing.py); cached_input_tokens = cache reads,
  cache_write_tokens = cache writes.

Inside Home Assistant the SDK runs on HA's shared httpx client; close() leaves it open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
import json
from typing import Any

import anthropic
import httpx

from ..types import (
    Completion,
    CompletionRequest,
    Message,
    ProviderKind,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from ._common import (
    PARSE_ERRORS,
    Stopwatch,
    deadline_in,
    effective_timeout,
    next_before,
    normalise_finish,
    tool_call_from_json,
    tool_call_from_object,
)
from ._stainless import translate_sdk_error
from .base import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)

STRUCTURED_OUTPUT_TOOL = "structured_output"

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Error types in an error body (HTTP errors and `event: error` inside a stream).
ERROR_TYPES: dict[str, type[ProviderError]] = {
    "authentication_error": ProviderAuthError,
    "permission_error": ProviderAuthError,
    "rate_limit_error": ProviderRateLimitError,
    "overloaded_error": ProviderUnavailableError,
    "api_error": ProviderUnavailableError,
    "timeout_error": ProviderTimeoutError,
    "invalid_request_error": ProviderRequestError,
    "not_found_error": ProviderRequestError,
    "request_too_large": ProviderRequestError,
}

SDK_ERRORS = (anthropic.AnthropicError, httpx.HTTPError, TimeoutError, ValueError)


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def to_anthropic(messages: tuple[Message, ...]) -> tuple[str | None, list[dict[str, Any]]]:
    """(system prompt, Messages API turns) for neutral messages."""
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    turns: list[dict[str, Any]] = []
    for message in messages:
        blocks: list[dict[str, Any]]
        if message.role == "system":
            continue
        if message.role == "tool":
            role = "user"
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id or "",
                    "content": message.content,
                }
            ]
        elif message.role == "assistant":
            role = "assistant"
            blocks = [_text_block(message.content)] if message.content else []
            blocks += [
                {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                for call in message.tool_calls
            ]
        else:
            role = "user"
            blocks = [_text_block(message.content)] if message.content else []
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system or None, turns


def to_anthropic_tools(tools: tuple[ToolSpec, ...]) -> list[dict[str, Any]]:
    """Neutral tool specs as Messages API tools."""
    return [
        {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
        for tool in tools
    ]


USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def usage_counts(usage: Any, previous: dict[str, int] | None = None) -> dict[str, int]:
    """Anthropic's usage numbers; a stream's message_delta counts (cumulative) override earlier."""
    counts = dict(previous or {})
    for name in USAGE_FIELDS:
        value = getattr(usage, name, None)
        if value is not None:
            counts[name] = int(value)
    return counts


def usage_from_anthropic(counts: dict[str, int]) -> Usage:
    """Anthropic reports uncached input, cache reads and cache writes apart; input sums them."""
    read = counts.get("cache_read_input_tokens", 0)
    written = counts.get("cache_creation_input_tokens", 0)
    return Usage(
        input_tokens=counts.get("input_tokens", 0) + read + written,
        output_tokens=counts.get("output_tokens", 0),
        cached_input_tokens=read,
        cache_write_tokens=written,
    )


def _stream_error(err: anthropic.APIStatusError) -> ProviderError:
    """`event: error` inside a 200 stream: the body says what went wrong."""
    body = err.body if isinstance(err.body, dict) else {}
    detail = body.get("error", body)
    kind = detail.get("type") if isinstance(detail, dict) else None
    error_class = ERROR_TYPES.get(str(kind), ProviderUnavailableError)
    return error_class(f"stream error {kind}: {err.message}")


def translate_error(err: Exception, timeout: float) -> ProviderError:
    """An anthropic SDK / transport exception as the router's typed error."""
    return translate_sdk_error(err, timeout, anthropic, "Anthropic", in_stream=_stream_error)


def _structured_text(call: ToolCall) -> str:
    return call.raw_arguments if call.raw_arguments is not None else json.dumps(call.arguments)


class AnthropicProvider:
    """One Claude model on the Messages API."""

    kind = ProviderKind.ANTHROPIC

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None,
        timeout: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        """Anthropic needs an API key; base_url defaults to the official endpoint."""
        if not api_key:
            raise ValueError("Anthropic needs an API key")
        self.model = model
        self.timeout = timeout
        self._owns_client = http_client is None
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )

    def _params(self, request: CompletionRequest) -> dict[str, Any]:
        system, turns = to_anthropic(request.messages)
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_output_tokens,
            "messages": turns,
        }
        if system:
            params["system"] = system
        tools = to_anthropic_tools(request.tools)
        if request.json_schema is not None:
            tools.append(
                {
                    "name": STRUCTURED_OUTPUT_TOOL,
                    "description": "Give the answer in this structure.",
                    "input_schema": request.json_schema,
                }
            )
            params["tool_choice"] = {"type": "tool", "name": STRUCTURED_OUTPUT_TOOL}
        if tools:
            params["tools"] = tools
        if request.temperature is not None:
            params["temperature"] = request.temperature
        return params

    def _finish(
        self,
        request: CompletionRequest,
        *,
        text: str,
        calls: list[ToolCall],
        stop_reason: str | None,
        usage: Usage,
        model: str,
    ) -> Completion:
        finish = normalise_finish(stop_reason, STOP_REASONS)
        if request.json_schema is not None:
            for call in calls:
                if call.name == STRUCTURED_OUTPUT_TOOL:
                    text = _structured_text(call)
                    calls = [c for c in calls if c is not call]
                    finish = "stop" if finish == "tool_calls" else finish
                    break
        return Completion(
            text=text,
            tool_calls=tuple(calls),
            finish_reason=finish,
            usage=usage,
            model=model,
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        """One non-streaming Messages call."""
        timeout = effective_timeout(self.timeout, request)
        watch = Stopwatch()
        try:
            async with asyncio.timeout(timeout):
                response = await self._client.messages.create(
                    **self._params(request), stream=False, timeout=timeout
                )
        except SDK_ERRORS as err:
            raise translate_error(err, timeout) from err
        if not isinstance(response, anthropic.types.Message):
            raise ProviderResponseError(f"not a message: {str(response)[:200]!r}")
        try:
            text = "".join(block.text for block in response.content if block.type == "text")
            calls = [
                tool_call_from_object(block.id, block.name, block.input)
                for block in response.content
                if block.type == "tool_use"
            ]
            completion = self._finish(
                request,
                text=text,
                calls=calls,
                stop_reason=response.stop_reason,
                usage=usage_from_anthropic(usage_counts(response.usage)),
                model=response.model or self.model,
            )
        except PARSE_ERRORS as err:
            raise ProviderResponseError(f"malformed message: {err}") from err
        return _timed(completion, watch, streamed=False)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[TextDelta | Completion]:
        """Stream raw Messages events: TextDelta per text_delta, then one Completion."""
        timeout = effective_timeout(self.timeout, request)
        deadline = deadline_in(timeout)
        watch = Stopwatch()
        text: list[str] = []
        blocks: dict[int, dict[str, Any]] = {}
        stop_reason: str | None = None
        counts: dict[str, int] = {}
        model = self.model
        sdk_stream: anthropic.AsyncStream[anthropic.types.RawMessageStreamEvent] | None = None
        try:
            async with asyncio.timeout_at(deadline):
                sdk_stream = await self._client.messages.create(
                    **self._params(request), stream=True, timeout=timeout
                )
            while True:
                try:
                    event = await next_before(sdk_stream, deadline)
                except StopAsyncIteration:
                    break
                if event.type == "message_start":
                    counts = usage_counts(event.message.usage, counts)
                    model = event.message.model or model
                elif event.type == "content_block_start":
                    block = event.content_block
                    if block.type == "tool_use":
                        watch.first_content()
                        blocks[event.index] = {
                            "id": block.id,
                            "name": block.name,
                            "input": block.input,
                            "json": "",
                        }
                    elif block.type == "text" and block.text:
                        watch.first_content()
                        text.append(block.text)
                        yield TextDelta(block.text)
                elif event.type == "content_block_delta":
                    delta = event.delta
                    if delta.type == "text_delta" and delta.text:
                        watch.first_content()
                        text.append(delta.text)
                        yield TextDelta(delta.text)
                    elif delta.type == "input_json_delta" and event.index in blocks:
                        blocks[event.index]["json"] += delta.partial_json
                elif event.type == "message_delta":
                    stop_reason = event.delta.stop_reason or stop_reason
                    counts = usage_counts(event.usage, counts)
        except SDK_ERRORS as err:
            raise translate_error(err, timeout) from err
        except PARSE_ERRORS as err:
            raise ProviderResponseError(f"malformed stream event: {err}") from err
        finally:
            if sdk_stream is not None:
                await sdk_stream.close()
        calls = [
            tool_call_from_json(entry["id"], entry["name"], entry["json"])
            if entry["json"]
            else tool_call_from_object(entry["id"], entry["name"], entry["input"])
            for _, entry in sorted(blocks.items())
        ]
        completion = self._finish(
            request,
            text="".join(text),
            calls=calls,
            stop_reason=stop_reason,
            usage=usage_from_anthropic(counts),
            model=model,
        )
        if request.json_schema is not None and completion.text and not text:
            # Structured output arrived as tool input: deliver it as the stream's text too.
            watch.first_content()
            yield TextDelta(completion.text)
        yield _timed(completion, watch, streamed=True)

    async def close(self) -> None:
        """Close the SDK's own HTTP client; an injected (HA-shared) one stays open."""
        if self._owns_client:
            await self._client.close()


def _timed(completion: Completion, watch: Stopwatch, *, streamed: bool) -> Completion:
    return replace(
        completion, latency_ms=watch.latency_ms, ttft_ms=watch.ttft_ms if streamed else None
    )
