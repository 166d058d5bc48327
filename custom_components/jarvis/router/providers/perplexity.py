"""Perplexity's Agent API (`POST /v1/responses`) through the official `perplexityai` SDK.

Sonar chat completions were retired in September 2026; the Agent API replaced them. The official
SDK has an async client (`perplexity.AsyncPerplexity`) that takes a base_url and an httpx client,
so it is used here (not the openai SDK's Responses API against Perplexity's alias).

- Which engine answers follows the configured model string: "provider/model" (e.g.
  "openai/gpt-5-mini") is a `model` and gets the `web_search` tool; an effort level ("fast",
  "low", "medium", "high", "xhigh", optionally pinned as "fast@<version>") is an `effort`; any
  other name (e.g. "fast-search", "pro-search") is a `preset` (deprecated by Perplexity in favour
  of effort, still accepted). Effort levels and presets bring their own tools; tools are sent
  with them only when the request has function tools (then web_search plus those).
- System messages become `instructions` (which replace a preset's own system prompt);
  the conversation is `input` items: messages, `function_call` and `function_call_output`.
- Citations: the message's `url_citation` annotations first, then the `search_results` items.
- Usage: `usage.cost.total_cost` is the exact bill (Usage.reported_cost_usd).
- No logprobs. SDK retries are off; inside HA the SDK runs on HA's shared httpx client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import perplexity
from perplexity.generated.api import (
    FunctionCallOutputItemOutput,
    MessageOutputItemOutput,
    OutputItemDoneEventOutput,
    ResponseCompletedEventOutput,
    ResponseFailedEventOutput,
    ResponsesResponseOutput,
    SearchResultsEventOutput,
    SearchResultsOutputItemOutput,
    TextDeltaEventOutput,
)

from ..types import (
    Citation,
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
    arguments_json,
    deadline_in,
    effective_timeout,
    next_before,
    tool_call_from_json,
)
from ._stainless import translate_sdk_error
from .base import ProviderError, ProviderResponseError, ProviderUnavailableError

EFFORT_LEVELS = frozenset({"fast", "low", "medium", "high", "xhigh"})
WEB_SEARCH: dict[str, Any] = {"type": "web_search"}

SDK_ERRORS = (perplexity.PerplexityError, httpx.HTTPError, TimeoutError, ValueError)


def engine(model: str) -> dict[str, str]:
    """The request field that picks what answers: model, effort or preset."""
    if "/" in model:
        return {"model": model}
    if model.split("@", 1)[0] in EFFORT_LEVELS:
        return {"effort": model}
    return {"preset": model}


def to_input(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Neutral messages (minus system ones) as Agent API input items."""
    items: list[dict[str, Any]] = []
    names = {call.id: call.name for m in messages for call in m.tool_calls}
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            call_id = message.tool_call_id or ""
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": call_id,
                    "output": message.content,
                    "name": message.name or names.get(call_id, ""),
                }
            )
            continue
        if message.content:
            items.append({"type": "message", "role": message.role, "content": message.content})
        items += [
            {
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": arguments_json(call),
            }
            for call in message.tool_calls
        ]
    return items


def to_function_tools(tools: tuple[ToolSpec, ...]) -> list[dict[str, Any]]:
    """Neutral tool specs as Agent API function tools."""
    return [
        {
            "type": "function",
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        }
        for tool in tools
    ]


def usage_from_perplexity(usage: Any) -> Usage:
    """Token counts plus the exact cost Perplexity billed."""
    if usage is None:
        return Usage()
    details = usage.input_tokens_details
    cost = usage.cost
    return Usage(
        input_tokens=int(usage.input_tokens or 0),
        output_tokens=int(usage.output_tokens or 0),
        cached_input_tokens=int(getattr(details, "cache_read_input_tokens", None) or 0),
        cache_write_tokens=int(getattr(details, "cache_creation_input_tokens", None) or 0),
        reported_cost_usd=None if cost is None else float(cost.total_cost),
    )


def _add_citation(citations: list[Citation], url: str | None, title: str | None) -> None:
    if url and all(c.url != url for c in citations):
        citations.append(Citation(url=url, title=title or ""))


def completion_from_response(response: ResponsesResponseOutput, model: str) -> Completion:
    """A whole Agent API response as a Completion (failed responses raise)."""
    if not isinstance(response.output, list):
        raise ProviderResponseError(f"no output list in the response: {response.output!r:.200}")
    if response.status == "failed":
        error = response.error
        raise ProviderUnavailableError(
            f"Perplexity failed the response: {error.message if error else 'no reason given'}"
        )
    if response.status not in ("completed", "requires_action"):
        raise ProviderResponseError(f"response is still {response.status}")
    citations: list[Citation] = []
    sources: list[Citation] = []
    calls: list[ToolCall] = []
    for item in response.output:
        if isinstance(item, MessageOutputItemOutput):
            for part in item.content:
                for note in part.annotations or ():
                    _add_citation(citations, note.url, note.title)
        elif isinstance(item, SearchResultsOutputItemOutput):
            for result in item.results:
                _add_citation(sources, result.url, result.title)
        elif isinstance(item, FunctionCallOutputItemOutput):
            calls.append(tool_call_from_json(item.call_id, item.name, item.arguments))
    for source in sources:
        _add_citation(citations, source.url, source.title)
    return Completion(
        text=response.output_text,
        tool_calls=tuple(calls),
        finish_reason="tool_calls" if calls else "stop",
        usage=usage_from_perplexity(response.usage),
        model=response.model or model,
        citations=tuple(citations),
    )


def translate_error(err: Exception, timeout: float) -> ProviderError:
    """A perplexityai SDK / transport exception as the router's typed error."""
    return translate_sdk_error(err, timeout, perplexity, "Perplexity")


class PerplexityProvider:
    """Fresh web facts from Perplexity's Agent API."""

    kind = ProviderKind.PERPLEXITY

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None,
        timeout: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        """Perplexity needs an API key; base_url defaults to https://api.perplexity.ai."""
        if not api_key:
            raise ValueError("Perplexity needs an API key")
        self.model = model
        self.timeout = timeout
        self._owns_client = http_client is None
        self._client = perplexity.AsyncPerplexity(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )

    def _params(self, request: CompletionRequest) -> dict[str, Any]:
        chosen = engine(self.model)
        params: dict[str, Any] = {
            **chosen,
            "input": to_input(request.messages),
            "max_output_tokens": request.max_output_tokens,
        }
        instructions = "\n\n".join(
            m.content for m in request.messages if m.role == "system" and m.content
        )
        if instructions:
            params["instructions"] = instructions
        if "model" in chosen or request.tools:
            params["tools"] = [WEB_SEARCH, *to_function_tools(request.tools)]
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.json_schema is not None:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": request.json_schema},
            }
        return params

    async def complete(self, request: CompletionRequest) -> Completion:
        """One non-streaming /v1/responses call."""
        timeout = effective_timeout(self.timeout, request)
        watch = Stopwatch()
        try:
            async with asyncio.timeout(timeout):
                response = await self._client.responses.create(
                    **self._params(request), stream=False, timeout=timeout
                )
        except SDK_ERRORS as err:
            raise translate_error(err, timeout) from err
        if not isinstance(response, ResponsesResponseOutput):
            raise ProviderResponseError(f"not a response: {str(response)[:200]!r}")
        try:
            completion = completion_from_response(response, self.model)
        except PARSE_ERRORS as err:
            raise ProviderResponseError(f"malformed response: {err}") from err
        return replace(completion, latency_ms=watch.latency_ms)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[TextDelta | Completion]:
        """Streaming /v1/responses: TextDelta per output_text delta, then one Completion."""
        timeout = effective_timeout(self.timeout, request)
        deadline = deadline_in(timeout)
        watch = Stopwatch()
        text: list[str] = []
        final: ResponsesResponseOutput | None = None
        sources: list[Citation] = []
        calls: list[ToolCall] = []
        events: Any = None
        try:
            async with asyncio.timeout_at(deadline):
                events = await self._client.responses.create(
                    **self._params(request), stream=True, timeout=timeout
                )
            while True:
                try:
                    event = await next_before(events, deadline)
                except StopAsyncIteration:
                    break
                if isinstance(event, TextDeltaEventOutput):
                    if event.delta:
                        watch.first_content()
                        text.append(event.delta)
                        yield TextDelta(event.delta)
                elif isinstance(event, SearchResultsEventOutput):
                    for result in event.results:
                        _add_citation(sources, result.url, result.title)
                elif isinstance(event, OutputItemDoneEventOutput):
                    item = event.item
                    if isinstance(item, FunctionCallOutputItemOutput):
                        watch.first_content()
                        calls.append(tool_call_from_json(item.call_id, item.name, item.arguments))
                elif isinstance(event, ResponseFailedEventOutput):
                    raise ProviderUnavailableError(
                        f"Perplexity failed the response: {event.error.message}"
                    )
                elif isinstance(event, ResponseCompletedEventOutput):
                    final = event.response
            if final is None:
                raise ProviderResponseError("the stream ended without response.completed")
            completion = completion_from_response(final, self.model)
        except SDK_ERRORS as err:
            raise translate_error(err, timeout) from err
        except PARSE_ERRORS as err:
            raise ProviderResponseError(f"malformed stream event: {err}") from err
        finally:
            if events is not None:
                await events.close()
        citations = list(completion.citations)
        for source in sources:
            _add_citation(citations, source.url, source.title)
        if not text and completion.text:
            # The answer came whole in response.completed: deliver it as the stream's text too.
            watch.first_content()
            text.append(completion.text)
            yield TextDelta(completion.text)
        yield replace(
            completion,
            text="".join(text),
            tool_calls=completion.tool_calls or tuple(calls),
            citations=tuple(citations),
            latency_ms=watch.latency_ms,
            ttft_ms=watch.ttft_ms,
        )

    async def close(self) -> None:
        """Close the SDK's own HTTP client; an injected (HA-shared) one stays open."""
        if self._owns_client:
            await self._client.close()
