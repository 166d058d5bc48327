"""Perplexity Agent API wire format (`/v1/responses`, OpenAI Responses style).

POST /v1/responses answers a response object: `output[]` holds `search_results` items
(`results[] {id, title, url, snippet, date}`), `message` items whose `output_text` parts carry
`annotations[] {type, url, title, start_index, end_index}`, and `function_call` items
(`call_id`, `name`, `arguments` as a JSON string); `usage` has token counts and
`cost {currency, input_cost, output_cost, tool_calls_cost, total_cost}`. With `"stream": true`
it answers server-sent events (`event: <type>` + `data: {..., "type", "sequence_number"}`):
response.created, response.in_progress, output items, response.output_text.delta ..., and a
final response.completed (or response.failed) with the whole response; there is no [DONE].
Errors are `{"error": {"message", "type", "code"}}`.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
from typing import Any

from .base import FakeServer, Reply

RESPONSES_PATH = "/v1/responses"
MODEL = "openai/gpt-5-mini"
CREATED = 1_760_000_000


class PerplexityServer(FakeServer):
    """An Agent API server; the SDK's base_url is `url` (the SDK adds /v1/responses)."""

    def not_found(self, path: str) -> Reply:
        """A 404 in Perplexity's format."""
        return error_reply(404, f"Not found: {path}", "not_found")


def usage(
    input_tokens: int = 0,
    output_tokens: int = 0,
    *,
    total_cost: float = 0.0,
    cache_read: int | None = None,
) -> dict[str, Any]:
    """Usage with the exact cost Perplexity bills."""
    body: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "cost": {
            "currency": "USD",
            "input_cost": round(total_cost * 0.2, 8),
            "output_cost": round(total_cost * 0.3, 8),
            "tool_calls_cost": round(total_cost * 0.5, 8),
            "total_cost": total_cost,
        },
        "tool_calls_details": {"web_search": {"invocation": 1}},
    }
    if cache_read is not None:
        body["input_tokens_details"] = {"cache_read_input_tokens": cache_read}
    return body


def annotation(url: str, title: str, start: int = 0, end: int = 1) -> dict[str, Any]:
    """A url_citation annotation on output text."""
    return {
        "type": "url_citation",
        "url": url,
        "title": title,
        "start_index": start,
        "end_index": end,
    }


def search_results(results: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A search_results output item: (url, title) per result."""
    return {
        "type": "search_results",
        "queries": ["query"],
        "results": [
            {"id": i + 1, "title": title, "url": url, "snippet": "...", "date": "2026-09-30"}
            for i, (url, title) in enumerate(results)
        ],
    }


def message_item(text: str, annotations: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """An assistant message output item."""
    return {
        "type": "message",
        "id": "msg_fake",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": list(annotations)}],
    }


def function_call_item(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A function_call output item (arguments: the JSON string the model wrote)."""
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def response(
    output: Sequence[dict[str, Any]],
    *,
    usage_body: dict[str, Any] | None = None,
    status: str = "completed",
    model: str = MODEL,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A whole response object."""
    body: dict[str, Any] = {
        "id": "resp_fake",
        "object": "response",
        "created_at": CREATED,
        "model": model,
        "status": status,
        "output": list(output),
        "usage": usage_body if usage_body is not None else usage(100, 20, total_cost=0.006),
    }
    if error is not None:
        body["error"] = error
    return body


def event(data: dict[str, Any], sequence: int) -> str:
    """One server-sent event."""
    payload = {**data, "sequence_number": sequence}
    return f"event: {data['type']}\ndata: {json.dumps(payload)}\n\n"


def stream_events(pieces: Sequence[str], final: dict[str, Any]) -> list[str]:
    """A streamed answer: lifecycle events, text deltas, then response.completed with `final`."""
    started = {**final, "status": "in_progress", "output": []}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
        {"type": "response.reasoning.started", "thought": "Searching"},
    ]
    events += [
        {"type": "response.reasoning.search_results", "results": item["results"]}
        for item in final["output"]
        if item["type"] == "search_results"
    ]
    events.append({"type": "response.reasoning.stopped"})
    events += [
        {
            "type": "response.output_text.delta",
            "delta": piece,
            "item_id": "msg_fake",
            "output_index": 0,
            "content_index": 0,
        }
        for piece in pieces
    ]
    events.append(
        {
            "type": "response.output_text.done",
            "text": "".join(pieces),
            "item_id": "msg_fake",
            "output_index": 0,
            "content_index": 0,
        }
    )
    events.append({"type": "response.completed", "response": final})
    return [event(data, n) for n, data in enumerate(events)]


def stream_reply(events: Sequence[str], *, chunk_delay: float = 0.0) -> Reply:
    """A streamed (SSE) reply."""
    return Reply(chunks=list(events), content_type="text/event-stream", chunk_delay=chunk_delay)


def error_reply(status: int, text: str, error_type: str) -> Reply:
    """An error in Perplexity's format."""
    return Reply(
        status=status, json={"error": {"message": text, "type": error_type, "code": status}}
    )
