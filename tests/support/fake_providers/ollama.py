"""Ollama native API wire format.

POST /api/chat answers one JSON object (`"stream": false`) or NDJSON lines, the last with
`"done": true`, `done_reason` and the metrics (`total_duration`, `load_duration`,
`prompt_eval_count`, `prompt_eval_duration`, `eval_count`, `eval_duration`, in nanoseconds).
`message.tool_calls[].function.arguments` is a JSON object. With `logprobs: true` each object
carries a top-level `logprobs: [{token, logprob, bytes, top_logprobs}]`. GET /api/ps lists the
loaded models, POST /api/show describes one (with `capabilities`), GET /api/version says
`{"version"}`, POST /api/generate with only a model loads it (`"done_reason": "load"`). Errors are `{"error": "..."}`; a tool call Ollama's parser cannot read is an HTTP 500
"error parsing tool call: raw='...', err=...".
"""

from __future__ import annotations

from collections.abc import Sequence
import json
from typing import Any

from .base import FakeServer, Reply, json_reply

CHAT_PATH = "/api/chat"
PS_PATH = "/api/ps"
SHOW_PATH = "/api/show"
VERSION_PATH = "/api/version"
GENERATE_PATH = "/api/generate"
MODEL = "qwen3:4b"
CREATED_AT = "2026-10-01T12:00:00.000000Z"


class OllamaServer(FakeServer):
    """An Ollama server (a recent version with nothing loaded, unless scripted otherwise)."""

    def __init__(self) -> None:
        """Serve /api/version, /api/ps and /api/show by default."""
        super().__init__()
        self.default(VERSION_PATH, json_reply({"version": "0.13.0"}))
        self.default(PS_PATH, json_reply({"models": []}))
        self.default(SHOW_PATH, json_reply(show(["completion", "tools"])))
        self.default(GENERATE_PATH, json_reply(loaded(MODEL)))

    def not_found(self, path: str) -> Reply:
        """Ollama's 404 body."""
        return error_reply(404, "404 page not found")


def token_logprob(
    token: str, logprob: float, top: Sequence[tuple[str, float]] = ()
) -> dict[str, Any]:
    """One `logprobs[]` entry."""
    return {
        "token": token,
        "logprob": logprob,
        "bytes": list(token.encode()),
        "top_logprobs": [
            {"token": alt, "logprob": lp, "bytes": list(alt.encode())} for alt, lp in top
        ],
    }


def tool_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A `message.tool_calls[]` entry (arguments as an object)."""
    return {"function": {"name": name, "arguments": arguments}}


def chat(
    content: str = "",
    *,
    tool_calls: Sequence[dict[str, Any]] = (),
    done: bool = True,
    done_reason: str = "stop",
    prompt_eval_count: int = 30,
    eval_count: int = 8,
    load_duration: int = 5_000_000,
    logprobs: Sequence[dict[str, Any]] | None = None,
    model: str = MODEL,
) -> dict[str, Any]:
    """One /api/chat object: the whole answer, or a stream chunk (done=False: no metrics)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = list(tool_calls)
    body: dict[str, Any] = {
        "model": model,
        "created_at": CREATED_AT,
        "message": message,
        "done": done,
    }
    if logprobs is not None:
        body["logprobs"] = list(logprobs)
    if done:
        body |= {
            "done_reason": done_reason,
            "total_duration": 900_000_000,
            "load_duration": load_duration,
            "prompt_eval_count": prompt_eval_count,
            "prompt_eval_duration": 300_000_000,
            "eval_count": eval_count,
            "eval_duration": 500_000_000,
        }
    return body


def stream_reply(objects: Sequence[dict[str, Any]], *, chunk_delay: float = 0.0) -> Reply:
    """Objects as NDJSON lines (application/x-ndjson)."""
    return Reply(
        chunks=[json.dumps(o) + "\n" for o in objects],
        content_type="application/x-ndjson",
        chunk_delay=chunk_delay,
    )


def ps(models: Sequence[str]) -> dict[str, Any]:
    """GET /api/ps: the loaded models."""
    return {
        "models": [
            {
                "name": name,
                "model": name,
                "size": 3_300_000_000,
                "digest": "a" * 64,
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "qwen3",
                    "families": ["qwen3"],
                    "parameter_size": "4.0B",
                    "quantization_level": "Q4_K_M",
                },
                "expires_at": "2026-10-01T12:30:00.000000Z",
                "size_vram": 0,
                "context_length": 4096,
            }
            for name in models
        ]
    }


def show(capabilities: Sequence[str]) -> dict[str, Any]:
    """POST /api/show: a model's description."""
    return {
        "modelfile": "FROM qwen3:4b",
        "parameters": "temperature 0.6",
        "template": "{{ .Prompt }}",
        "details": {"format": "gguf", "family": "qwen3", "parameter_size": "4.0B"},
        "model_info": {"general.architecture": "qwen3"},
        "capabilities": list(capabilities),
        "modified_at": CREATED_AT,
    }


def loaded(model: str) -> dict[str, Any]:
    """POST /api/generate without a prompt: the model is now loaded."""
    return {
        "model": model,
        "created_at": CREATED_AT,
        "response": "",
        "done": True,
        "done_reason": "load",
    }


def error_reply(status: int, text: str) -> Reply:
    """An error in Ollama's format."""
    return Reply(status=status, json={"error": text})
