"""Gemini API wire format (generativelanguage.googleapis.com, v1beta).

POST /v1beta/models/{model}:generateContent answers a GenerateContentResponse (camelCase JSON:
`candidates[].content.parts[]` with `text` / `functionCall {name, args}` (+ `thoughtSignature`),
`finishReason`, `usageMetadata {promptTokenCount, candidatesTokenCount, thoughtsTokenCount,
cachedContentTokenCount, toolUsePromptTokenCount, totalTokenCount}`, `modelVersion`);
POST /v1beta/models/{model}:streamGenerateContent?alt=sse answers the same objects as
server-sent events `data: {...}`. Errors are `{"error": {"code", "message", "status",
"details"}}`; an invalid key is a 400 INVALID_ARGUMENT whose ErrorInfo reason is API_KEY_INVALID.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
from typing import Any

from .base import FakeServer, Reply

MODEL = "gemini-2.5-flash"


def generate_path(model: str = MODEL) -> str:
    """The non-streaming method's path."""
    return f"/v1beta/models/{model}:generateContent"


def stream_path(model: str = MODEL) -> str:
    """The streaming method's path (the SDK adds ?alt=sse)."""
    return f"/v1beta/models/{model}:streamGenerateContent"


class GeminiServer(FakeServer):
    """A Gemini API server; the SDK's base_url is `url`."""

    def not_found(self, path: str) -> Reply:
        """Google's 404 body."""
        return error_reply(404, "NOT_FOUND", f"models/x is not found: {path}")


def usage(
    prompt: int = 0,
    candidates: int = 0,
    *,
    thoughts: int = 0,
    cached: int = 0,
    tool_use_prompt: int = 0,
) -> dict[str, Any]:
    """usageMetadata (promptTokenCount includes cached content)."""
    body: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts + tool_use_prompt,
    }
    if thoughts:
        body["thoughtsTokenCount"] = thoughts
    if cached:
        body["cachedContentTokenCount"] = cached
    if tool_use_prompt:
        body["toolUsePromptTokenCount"] = tool_use_prompt
    return body


def text_part(text: str) -> dict[str, Any]:
    """A text part."""
    return {"text": text}


def function_call_part(
    name: str, args: dict[str, Any], *, thought_signature: str | None = None
) -> dict[str, Any]:
    """A functionCall part (args is a JSON object; Gemini 3 adds a base64 thoughtSignature)."""
    part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
    if thought_signature is not None:
        part["thoughtSignature"] = thought_signature
    return part


def response(
    parts: Sequence[dict[str, Any]] | None,
    *,
    finish_reason: str | None = "STOP",
    usage_body: dict[str, Any] | None = None,
    finish_message: str | None = None,
    grounding: dict[str, Any] | None = None,
    model: str = MODEL,
) -> dict[str, Any]:
    """A GenerateContentResponse with one candidate (parts None: no content)."""
    candidate: dict[str, Any] = {"index": 0}
    if parts is not None:
        candidate["content"] = {"role": "model", "parts": list(parts)}
    if finish_reason is not None:
        candidate["finishReason"] = finish_reason
    if finish_message is not None:
        candidate["finishMessage"] = finish_message
    if grounding is not None:
        candidate["groundingMetadata"] = grounding
    body: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": model,
        "responseId": "fake-response",
    }
    if usage_body is not None:
        body["usageMetadata"] = usage_body
    return body


def grounding(sources: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """groundingMetadata from Google Search grounding: (uri, title) per chunk."""
    return {
        "webSearchQueries": ["query"],
        "groundingChunks": [{"web": {"uri": uri, "title": title}} for uri, title in sources],
    }


def stream_reply(responses: Sequence[dict[str, Any]], *, chunk_delay: float = 0.0) -> Reply:
    """Responses framed as server-sent events (alt=sse)."""
    return Reply(
        chunks=[f"data: {json.dumps(r)}\r\n\r\n" for r in responses],
        content_type="text/event-stream",
        chunk_delay=chunk_delay,
    )


def error_reply(code: int, status: str, text: str, *, reason: str | None = None) -> Reply:
    """An error in Google's format (reason: the ErrorInfo reason, e.g. API_KEY_INVALID)."""
    error: dict[str, Any] = {"code": code, "message": text, "status": status}
    if reason is not None:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
            }
        ]
    return Reply(status=code, json={"error": error})
