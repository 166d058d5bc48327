"""Error mapping shared by the SDKs Stainless generates: openai, anthropic and perplexityai.

The three expose the same exception classes (APITimeoutError, APIConnectionError,
APIResponseValidationError, APIStatusError, APIError), so one mapping serves them all; the SDK
module is passed in so this module imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import httpx

from ._common import error_for_status, timeout_error
from .base import ProviderError, ProviderResponseError, ProviderUnavailableError


def translate_sdk_error(
    err: Exception,
    timeout: float,
    sdk: ModuleType,
    who: str,
    *,
    in_stream: Callable[[Any], ProviderError] | None = None,
) -> ProviderError:
    """An SDK / transport exception as the router's typed error.

    `who` names the peer in messages ("Anthropic", "the server"); `in_stream` maps a status
    error that arrived inside a 200 stream (Anthropic's `event: error` carries a typed body).
    """
    if isinstance(err, (sdk.APITimeoutError, TimeoutError, httpx.TimeoutException)):
        return timeout_error(timeout)
    if isinstance(err, (sdk.APIConnectionError, httpx.TransportError)):
        return ProviderUnavailableError(f"cannot reach {who}: {err}")
    if isinstance(err, sdk.APIResponseValidationError):
        return ProviderResponseError(f"unexpected answer: {err}")
    if isinstance(err, sdk.APIStatusError):
        if err.status_code >= 400:
            return error_for_status(err.status_code, err.message)
        if in_stream is not None:
            return in_stream(err)
    if isinstance(err, sdk.APIError):  # an error event inside a stream
        return ProviderUnavailableError(f"{who} reported an error: {err.message}")
    return ProviderResponseError(f"unreadable answer: {err}")
