"""Anthropic Messages API wire format.

POST /v1/messages answers a `message` object (content blocks `text` / `tool_use`, `stop_reason`,
`usage` with cache counts), or with `"stream": true` server-sent events:
message_start, then per block content_block_start / content_block_delta (`text_delta`,
`input_json_delta` with `partial_json`) / content_block_stop, then message_delta (stop_reason and
cumulative usage) and message_stop; `ping` events may come anywhere and `event: error` reports a
failure mid-stream. Errors are `{"type": "error", "error": {"type", "message"}}`.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
from typing import Any

from .base import FakeServer, Reply

MESSAGES_PATH = "/v1/messages"
MODEL = "claude-haiku-4-5"


class AnthropicServer(FakeServer):
    """A Messages API server; the SDK's base_url is `url`."""

    def not_found(self, path: str) -> Reply:
        """Anthropic's 404 body."""
        return error_reply(404, "not_found_error", f"Not found: {path}")


def usage(
    input_tokens: int = 0, output_tokens: int = 0, cache_read: int = 0, cache_write: int = 0
) -> dict[str, Any]:
    """A usage object: input_tokens is the uncached part; cache reads and writes come apart."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
        "service_tier": "standard",
    }


def text_block(text: str) -> dict[str, Any]:
    """A text content block."""
    return {"type": "text", "text": text}


def tool_use_block(block_id: str, name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    """A tool_use content block (input is a JSON object)."""
    return {"type": "tool_use", "id": block_id, "name": name, "input": tool_input}


def message(
    content: Sequence[dict[str, Any]],
    *,
    stop_reason: str | None = "end_turn",
    usage_body: dict[str, Any] | None = None,
    model: str = MODEL,
) -> dict[str, Any]:
    """A whole `message` object."""
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": list(content),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage_body if usage_body is not None else usage(10, 5),
    }


def event(name: str, data: dict[str, Any]) -> str:
    """One server-sent event (`event:` name plus `data:` JSON, which repeats the type)."""
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"


# A streamed block: ("text", [pieces]) or ("tool_use", id, name, [partial_json pieces]).
type StreamBlock = tuple[str, list[str]] | tuple[str, str, str, list[str]]


def stream_events(
    blocks: Sequence[StreamBlock],
    *,
    stop_reason: str = "end_turn",
    start_usage: dict[str, Any] | None = None,
    output_tokens: int = 5,
    model: str = MODEL,
) -> list[str]:
    """A whole streamed answer, in the documented event order."""
    first = message([], stop_reason=None, model=model)
    first["usage"] = start_usage if start_usage is not None else usage(10, 1)
    events = [event("message_start", {"message": first}), event("ping", {})]
    for index, block in enumerate(blocks):
        if block[0] == "text":
            pieces = block[1]
            events.append(
                event("content_block_start", {"index": index, "content_block": text_block("")})
            )
            events += [
                event(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "text_delta", "text": piece}},
                )
                for piece in pieces
            ]
        else:
            _, block_id, name, fragments = block
            events.append(
                event(
                    "content_block_start",
                    {"index": index, "content_block": tool_use_block(block_id, name, {})},
                )
            )
            events += [
                event(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "input_json_delta", "partial_json": part}},
                )
                for part in fragments
            ]
        events.append(event("content_block_stop", {"index": index}))
    events.append(
        event(
            "message_delta",
            {
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        )
    )
    events.append(event("message_stop", {}))
    return events


def stream_reply(events: Sequence[str], *, chunk_delay: float = 0.0) -> Reply:
    """A streamed (SSE) reply."""
    return Reply(chunks=list(events), content_type="text/event-stream", chunk_delay=chunk_delay)


def error_body(error_type: str, text: str) -> dict[str, Any]:
    """Anthropic's error object."""
    return {"type": "error", "error": {"type": error_type, "message": text}, "request_id": "req_1"}


def error_reply(status: int, error_type: str, text: str) -> Reply:
    """An HTTP error in Anthropic's format."""
    return Reply(status=status, json=error_body(error_type, text))


def error_event(error_type: str, text: str) -> str:
    """An `event: error` inside a 200 stream (e.g. overloaded_error)."""
    return f"event: error\ndata: {json.dumps(error_body(error_type, text))}\n\n"
