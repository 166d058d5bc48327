"""One module per provider SDK; all implement providers.base.Provider.

create_provider() builds the right one for a ProviderKind. Modules are imported on demand: each
pulls in its SDK, and a setup that never uses Gemini need not load google-genai.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..types import ProviderKind
from .base import Provider

# The module (relative to this package) that create_provider imports for each kind.
MODULES: dict[ProviderKind, str] = {
    ProviderKind.OPENAI: ".openai_compat",
    ProviderKind.OPENAI_COMPATIBLE: ".openai_compat",
    ProviderKind.ANTHROPIC: ".anthropic",
    ProviderKind.GEMINI: ".gemini",
    ProviderKind.OLLAMA: ".ollama",
    ProviderKind.PERPLEXITY: ".perplexity",
}


def create_provider(
    kind: ProviderKind,
    *,
    model: str,
    base_url: str | None,
    api_key: str | None,
    timeout: float,
    http_client: httpx.AsyncClient | None = None,
    keep_alive: str | float | None = None,
    web_search: bool = False,
) -> Provider:
    """A provider for one configured model.

    base_url: required for local kinds (Ollama, OpenAI-compatible), optional for clouds (their
    official endpoint by default). api_key: required for clouds. timeout: seconds per call (a
    request's own timeout_s may only shorten it). http_client: Home Assistant's shared httpx
    client; the openai, anthropic, google-genai and perplexityai SDKs run on it (close() leaves it
    open); the ollama SDK takes none and builds its own. keep_alive: Ollama only, how long the
    server keeps the model loaded after a request (None: "30m"; a negative number: forever).
    web_search: Gemini only, ground every answer in Google Search (a fresh-facts model).

    Raises ValueError when a required setting is missing or the kind is unknown.
    """
    kind = ProviderKind(kind)
    common: dict[str, Any] = {
        "model": model,
        "base_url": base_url,
        "api_key": api_key,
        "timeout": timeout,
        "http_client": http_client,
    }
    if kind is ProviderKind.OPENAI:
        from .openai_compat import OpenAIProvider

        return OpenAIProvider(**common)
    if kind is ProviderKind.OPENAI_COMPATIBLE:
        from .openai_compat import OpenAICompatibleProvider

        return OpenAICompatibleProvider(**common)
    if kind is ProviderKind.ANTHROPIC:
        from .anthropic import AnthropicProvider

        return AnthropicProvider(**common)
    if kind is ProviderKind.GEMINI:
        from .gemini import GeminiProvider

        return GeminiProvider(**common, web_search=web_search)
    if kind is ProviderKind.OLLAMA:
        from .ollama import DEFAULT_KEEP_ALIVE, OllamaProvider

        return OllamaProvider(
            **common, keep_alive=DEFAULT_KEEP_ALIVE if keep_alive is None else keep_alive
        )
    if kind is ProviderKind.PERPLEXITY:
        from .perplexity import PerplexityProvider

        return PerplexityProvider(**common)
    raise ValueError(f"unknown provider kind {kind!r}")
