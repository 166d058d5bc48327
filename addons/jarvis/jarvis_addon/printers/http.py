"""The REST call both printer clients make: API key header, timeout, errors mapped to base's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from .base import PrinterError, PrinterUnreachableError


async def request_text(
    session: aiohttp.ClientSession,
    backend: str,
    base_url: str,
    method: str,
    path: str,
    *,
    api_key: str,
    limit_s: float,
    error_for: Callable[[int, str], PrinterError],
    json_body: Any = None,
    data: Any = None,
) -> str:
    """The body of a 2xx answer; `error_for(status, body)` names any other; unreachable -> typed."""
    try:
        async with session.request(
            method,
            f"{base_url}{path}",
            json=json_body,
            data=data,
            headers={"X-Api-Key": api_key},
            timeout=aiohttp.ClientTimeout(total=limit_s),
        ) as resp:
            text = await resp.text()
            if resp.status < 300:
                return text
            raise error_for(resp.status, text)
    except TimeoutError:
        raise PrinterUnreachableError(
            f"{backend} at {base_url} did not answer {method} {path} within {limit_s:.0f} s"
        ) from None
    except aiohttp.ClientError as err:
        raise PrinterUnreachableError(f"{backend} at {base_url} is unreachable: {err}") from None
