"""Provider-neutral types the router, the providers and the HA glue exchange.

Pure data: no Home Assistant, no SDK, no network imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal


class Tier(StrEnum):
    """Routing tiers, cheapest first."""

    LOCAL_INTENT = "t0"  # HA sentence triggers and strict local intents
    LOCAL_MODEL = "t1"  # Ollama / OpenAI-compatible local server / the add-on's bundled model
    CLOUD = "t2"  # OpenAI, Anthropic, Gemini
    FRESH = "t2f"  # Perplexity: questions that need fresh web facts


class ProviderKind(StrEnum):
    """One per provider module (and SDK)."""

    OLLAMA = "ollama"
    OPENAI_COMPATIBLE = "openai_compatible"  # MLX, llama.cpp, LM Studio, vLLM, the add-on's model
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    PERPLEXITY = "perplexity"


LOCAL_KINDS = frozenset({ProviderKind.OLLAMA, ProviderKind.OPENAI_COMPATIBLE})


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call; parameters is a JSON schema object."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call as the model proposed it.

    arguments is the parsed JSON object; when the model's arguments did not parse,
    arguments is {} and parse_error says why (raw_arguments keeps what it sent).
    """

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str | None = None
    parse_error: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message in the neutral format providers convert from."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # role == "tool": which call this answers
    name: str | None = None  # role == "tool": the tool's name


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One generated token with its logprob and the alternatives the provider reported."""

    token: str
    logprob: float
    top_logprobs: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage; reported_cost_usd when the provider bills exactly (Perplexity)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0  # already included in output_tokens where the provider bills them so
    reported_cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Citation:
    """A source a fresh-facts answer relies on."""

    url: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """What the router asks of one provider."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_output_tokens: int = 512
    temperature: float | None = None
    want_logprobs: bool = False  # providers that cannot give them ignore this
    json_schema: dict[str, Any] | None = None  # structured output (ai_task)
    timeout_s: float = 30.0

    def last_user_text(self) -> str | None:
        """The user's latest message (what this request answers), if any."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return None


@dataclass(frozen=True, slots=True)
class Completion:
    """A provider's whole answer (after streaming, the assembled result)."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = (
        None  # normalised: "stop", "length", "tool_calls", "content_filter", other raw
    )
    logprobs: tuple[TokenLogprob, ...] | None = None  # None: provider gave none
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    citations: tuple[Citation, ...] = ()
    latency_ms: float = 0.0  # request sent -> last byte
    ttft_ms: float | None = None  # request sent -> first content (streaming only)
    warm: bool | None = None  # local models: was it loaded already (Ollama load_duration)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """Streaming: more answer text."""

    text: str


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens (and per request); kept in config, never in code."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    cached_input_per_mtok: float | None = None  # None: same as input
    cache_write_per_mtok: float | None = None  # None: same as input
    per_request: float = 0.0
