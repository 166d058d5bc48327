"""Waiting on a condition in async tests: poll until truthy, or fail naming what never came."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import time
from typing import Any


async def until(
    check: Callable[[], Any], timeout: float, what: str, *, interval: float = 0.1
) -> Any:
    """The first truthy result of check; TimeoutError naming `what` after timeout seconds."""
    start = time.monotonic()
    while not (result := check()):
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} not reached in {timeout}s")
        await asyncio.sleep(interval)
    return result
