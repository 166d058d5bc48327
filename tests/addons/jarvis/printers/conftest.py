"""Real printer peers for the add-on's printer tests: OctoPrint + Virtual Printer, Moonraker + Klipper stub."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.moonraker import Moonraker
from tests.support.octoprint import OctoPrint


@pytest.fixture(scope="session")
def octoprint_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OctoPrint]:
    """One OctoPrint for the session (it takes ~5 s to start)."""
    server = OctoPrint(tmp_path_factory.mktemp("octoprint")).start()
    yield server
    server.stop()


@pytest.fixture
def octoprint(octoprint_server: OctoPrint) -> Iterator[OctoPrint]:
    """The session OctoPrint, connected to its Virtual Printer and idle."""
    if octoprint_server.proc is None:  # a test stopped it
        octoprint_server.start()
    octoprint_server.connect_virtual()
    yield octoprint_server
    if octoprint_server.proc is None:
        octoprint_server.start()
    state = octoprint_server.job().get("state", "")
    if state in ("Printing", "Paused", "Pausing"):
        octoprint_server.request("POST", "/api/job", {"command": "cancel"})
        octoprint_server.wait_state(lambda s: s == "Operational", 15)


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
