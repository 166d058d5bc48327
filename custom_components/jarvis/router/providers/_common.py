"""What every provider module shares: timing, deadlines, tool-argument parsing, error mapping.

Pure: no Home Assistant, no SDK imports.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
import json
import time
from typing import Any
import uuid

from ..types import CompletionRequest, ToolCall, ToolSpec
from .base import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)

# Errors raised while reading an SDK's answer that mean "the answer is not what the API promises".
PARSE_ERRORS = (AttributeError, IndexError, KeyError, TypeError, ValueError)


def effective_timeout(configured: float, request: CompletionRequest) -> float:
    """The tighter of the provider's configured timeout and the request's own budget (seconds)."""
    return max(0.001, min(configured, request.timeout_s))


class Stopwatch:
    """Latency (request sent -> last byte) and time to first content, in milliseconds."""

    def __init__(self) -> None:
        """Start timing now."""
        self._start = time.perf_counter()
        self._first: float | None = None

    def first_content(self) -> None:
        """Note that content arrived (only the first call counts)."""
        if self._first is None:
            self._first = time.perf_counter()

    @property
    def latency_ms(self) -> float:
        """Milliseconds since the request was sent."""
        return (time.perf_counter() - self._start) * 1000.0

    @property
    def ttft_ms(self) -> float | None:
        """Milliseconds from the request to the first content, None when none arrived."""
        return None if self._first is None else (self._first - self._start) * 1000.0


async def next_before[T](iterator: AsyncIterator[T], deadline: float) -> T:
    """The SDK stream's next item, or TimeoutError once the loop time passes deadline.

    Raises StopAsyncIteration at the end. The timeout covers only the wait for the item, never
    the consumer's work between items (a timeout scope must not span a generator's yield).
    """
    async with asyncio.timeout_at(deadline):
        return await anext(iterator)


def deadline_in(seconds: float) -> float:
    """The running loop's clock value `seconds` from now."""
    return asyncio.get_running_loop().time() + seconds


def new_call_id() -> str:
    """An id for a tool call the provider sent without one (unique across answers)."""
    return f"call_{uuid.uuid4().hex[:24]}"


def parse_arguments(raw: str | None) -> tuple[dict[str, Any], str | None]:
    """Tool-call arguments sent as a JSON string: (object, None) or ({}, why it did not parse)."""
    if raw is None or not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except ValueError as err:
        return {}, f"arguments are not valid JSON: {err}"
    if not isinstance(value, dict):
        return {}, f"arguments are a JSON {type(value).__name__}, not an object"
    return value, None


def tool_call_from_json(call_id: str, name: str, raw: str | None) -> ToolCall:
    """A ToolCall from arguments the provider sent as a JSON string (never raises)."""
    arguments, error = parse_arguments(raw)
    return ToolCall(
        id=call_id, name=name, arguments=arguments, raw_arguments=raw, parse_error=error
    )


def tool_call_from_object(call_id: str, name: str, arguments: object) -> ToolCall:
    """A ToolCall from arguments the provider sent as a JSON object (never raises)."""
    if arguments is None:
        return ToolCall(id=call_id, name=name, arguments={}, raw_arguments=None)
    if isinstance(arguments, Mapping):
        as_dict = {str(key): value for key, value in arguments.items()}
        return ToolCall(
            id=call_id,
            name=name,
            arguments=as_dict,
            raw_arguments=json.dumps(as_dict, default=str),
        )
    return ToolCall(
        id=call_id,
        name=name,
        arguments={},
        raw_arguments=json.dumps(arguments, default=str),
        parse_error=f"arguments are a {type(arguments).__name__}, not an object",
    )


def arguments_json(call: ToolCall) -> str:
    """An earlier call's arguments as the JSON string APIs want back.

    Always valid JSON ({} for a call whose arguments did not parse): servers such as llama.cpp
    parse replayed arguments and fail the whole request on invalid JSON.
    """
    return json.dumps(call.arguments)


def tool_result_object(content: str) -> dict[str, Any]:
    """A tool result as a JSON object, for APIs that want one (Gemini)."""
    try:
        value = json.loads(content)
    except ValueError:
        return {"result": content}
    if isinstance(value, dict):
        return value
    return {"result": value}


def function_tools(tools: tuple[ToolSpec, ...]) -> list[dict[str, Any]]:
    """Neutral tool specs as OpenAI-style function tools (Chat Completions and Ollama's /api/chat)."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for tool in tools
    ]


def error_for_status(status: int, message: str) -> ProviderError:
    """The typed error for an HTTP status (and for Anthropic's 529 overloaded)."""
    text = f"HTTP {status}: {message}" if message else f"HTTP {status}"
    if status in (401, 403):
        return ProviderAuthError(text)
    if status == 429:
        return ProviderRateLimitError(text)
    if status == 408:
        return ProviderTimeoutError(text)
    if status >= 500:
        return ProviderUnavailableError(text)
    if 400 <= status < 500:
        return ProviderRequestError(text)
    return ProviderResponseError(text)


def timeout_error(seconds: float) -> ProviderTimeoutError:
    """The error for an answer that did not complete within the timeout."""
    return ProviderTimeoutError(f"no complete answer within {seconds:g} s")


def normalise_finish(raw: str | None, mapping: Mapping[str, str]) -> str | None:
    """A provider's finish/stop reason in the router's vocabulary (unknown ones: lower-cased raw)."""
    if raw is None:
        return None
    return mapping.get(raw, raw.lower())
