"""The provider interface and its typed errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from ..types import Completion, CompletionRequest, ProviderKind, TextDelta


class ProviderError(Exception):
    """Base class: the provider could not answer. The router fails over on every subclass."""

    retryable = True


class ProviderAuthError(ProviderError):
    """Bad or revoked API key (HTTP 401/403): needs the user (reauth), not a retry."""

    retryable = False


class ProviderRateLimitError(ProviderError):
    """HTTP 429 or quota exhausted."""


class ProviderTimeoutError(ProviderError):
    """No (complete) answer within the request's timeout."""


class ProviderUnavailableError(ProviderError):
    """Connection refused / DNS / HTTP 5xx / model not loaded."""


class ProviderResponseError(ProviderError):
    """The provider answered something its API does not promise (malformed JSON, missing fields)."""


class ProviderRequestError(ProviderError):
    """The provider rejected the request itself (HTTP 400/404/422: unknown model, bad parameter)."""

    retryable = False


@runtime_checkable
class Provider(Protocol):
    """One configured model at one provider."""

    kind: ProviderKind
    model: str

    async def complete(self, request: CompletionRequest) -> Completion:
        """Answer the request in one piece; raise a ProviderError subclass on failure."""

    def stream(self, request: CompletionRequest) -> AsyncIterator[TextDelta | Completion]:
        """Yield TextDelta as text arrives, then exactly one Completion (the assembled answer).

        Tool calls and logprobs arrive only in the final Completion. Errors raise
        ProviderError subclasses, possibly after some deltas were yielded.
        """

    async def close(self) -> None:
        """Release connections the provider owns (not a session injected by HA)."""


@runtime_checkable
class LocalModelStatus(Protocol):
    """Optional, for local servers that can tell (Ollama): is the model ready, can it call tools.

    The router may ask before it picks a local model: `isinstance(provider, LocalModelStatus)`.
    Both raise ProviderError subclasses when the server cannot be asked.
    """

    async def is_warm(self) -> bool:
        """Whether the model is loaded now (a cold model first spends seconds loading)."""

    async def supports_tools(self) -> bool:
        """Whether the model can call tools."""

    async def warm_up(self) -> None:
        """Load the model now (so that a later request finds it warm)."""
