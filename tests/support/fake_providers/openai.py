"""OpenAI Chat Completions wire format (also what llama.cpp, LM Studio, MLX and vLLM serve).

POST /v1/chat/completions answers a `chat.completion` object, or with `"stream": true` server-sent
events `data: {chat.completion.chunk}` ending in `data: [DONE]`; tool calls stream as
`delta.tool_calls[]` fragments keyed by `index` (id, type and name in the first fragment, the
arguments string in pieces); with `stream_options.include_usage` a last chunk with empty
`choices` carries `usage`. Errors are `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
from typing import Any

from .base import FakeServer, Reply

CHAT_PATH = "/v1/chat/completions"
CREATED = 1_760_000_000


class OpenAIServer(FakeServer):
    """A Chat Completions server; the SDK's base_url is `base_url`."""

    @property
    def base_url(self) -> str:
        """What the SDK is given (the /v1 prefix included, as for api.openai.com)."""
        return f"{self.url}/v1"

    def not_found(self, path: str) -> Reply:
        """OpenAI's 404 body."""
        return error_reply(404, f"Unknown path {path}", "invalid_request_error")


def usage(
    prompt: int = 0, completion: int = 0, cached: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    """A usage object (prompt_tokens includes cached ones)."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


def token_logprob(
    token: str, logprob: float, top: Sequence[tuple[str, float]] = ()
) -> dict[str, Any]:
    """One `logprobs.content[]` entry (llama.cpp adds `id`; the SDK ignores it)."""
    return {
        "token": token,
        "logprob": logprob,
        "bytes": list(token.encode()),
        "top_logprobs": [
            {"token": alt, "logprob": lp, "bytes": list(alt.encode())} for alt, lp in top
        ],
    }


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A message's `tool_calls[]` entry; arguments is the raw JSON string the model wrote."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def completion(
    text: str | None = None,
    *,
    tool_calls: Sequence[dict[str, Any]] = (),
    finish_reason: str = "stop",
    model: str = "fake-model",
    usage_body: dict[str, Any] | None = None,
    logprobs: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A whole `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool_calls:
        message["tool_calls"] = list(tool_calls)
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None
                if logprobs is None
                else {"content": list(logprobs), "refusal": None},
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage_body if usage_body is not None else usage(10, 5),
    }


def chunk(
    delta: dict[str, Any] | None, *, finish_reason: str | None = None, model: str = "fake-model"
) -> dict[str, Any]:
    """One `chat.completion.chunk` (delta None: the usage-only last chunk, no choices)."""
    base: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_fake",
    }
    if delta is None:
        base["choices"] = []
    else:
        base["choices"] = [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        ]
    return base


def text_chunks(pieces: Sequence[str], *, finish_reason: str = "stop") -> list[dict[str, Any]]:
    """A role chunk, one chunk per text piece, then the finish chunk."""
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in pieces]
    chunks.append(chunk({}, finish_reason=finish_reason))
    return chunks


def tool_call_chunks(calls: Sequence[tuple[str, str, Sequence[str]]]) -> list[dict[str, Any]]:
    """Tool calls streamed as fragments: (id, name, argument pieces) per call, by index."""
    chunks = [chunk({"role": "assistant", "content": None})]
    for index, (call_id, name, pieces) in enumerate(calls):
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        chunks += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in pieces
        ]
    chunks.append(chunk({}, finish_reason="tool_calls"))
    return chunks


def usage_chunk(usage_body: dict[str, Any]) -> dict[str, Any]:
    """The last chunk `stream_options.include_usage` asks for."""
    return {**chunk(None), "usage": usage_body}


def sse(chunks: Sequence[dict[str, Any]], *, done: bool = True) -> list[str]:
    """Chunks framed as server-sent events, ending with `data: [DONE]`."""
    events = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    if done:
        events.append("data: [DONE]\n\n")
    return events


def stream_reply(chunks: Sequence[dict[str, Any]], *, chunk_delay: float = 0.0) -> Reply:
    """A streamed (SSE) reply."""
    return Reply(chunks=sse(chunks), content_type="text/event-stream", chunk_delay=chunk_delay)


def error_reply(status: int, message: str, error_type: str, code: str | None = None) -> Reply:
    """An error in OpenAI's format."""
    return Reply(
        status=status,
        json={"error": {"message": message, "type": error_type, "param": None, "code": code}},
    )
