"""Real printer peers for the add-on's printer tests (fixtures shared in tests/support/printer_peers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.moonraker import Moonraker
from tests.support.printer_peers import octoprint, octoprint_server

__all__ = ["octoprint", "octoprint_server"]


@pytest.fixture
def moonraker(tmp_path: Path) -> Iterator[Moonraker]:
    """A Moonraker + Klipper stub of the test's own (cheap: ~1 s); prints take 6 s."""
    server = Moonraker(tmp_path, print_seconds=6).start()
    yield server
    server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for the printer clients."""
    async with aiohttp.ClientSession() as session:
        yield session
