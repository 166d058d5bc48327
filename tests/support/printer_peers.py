"""Pytest fixtures for real printer peers, shared by the integration's and other branches' tests.

Import them into a conftest: `from tests.support.printer_peers import octoprint_server, ...`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .moonraker import Moonraker
from .octoprint import OctoPrint


@pytest.fixture(scope="session")
def octoprint_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OctoPrint]:
    """One real OctoPrint 1.11.8 for the session (it takes ~5 s to start)."""
    try:  # phcc blocks sockets before every test; session fixtures run inside the first one
        import pytest_socket

        pytest_socket.enable_socket()
    except ImportError:
        pass
    server = OctoPrint(tmp_path_factory.mktemp("octoprint")).start()
    yield server
    server.stop()


@pytest.fixture
def octoprint(octoprint_server: OctoPrint) -> Iterator[OctoPrint]:
    """The session OctoPrint, connected to its Virtual Printer and idle again afterwards."""
    if octoprint_server.proc is None:  # a test stopped it
        octoprint_server.start()
    octoprint_server.connect_virtual()
    yield octoprint_server
    if octoprint_server.proc is None:
        octoprint_server.start()
    if octoprint_server.job().get("state", "") in ("Printing", "Paused", "Pausing"):
        octoprint_server.request("POST", "/api/job", {"command": "cancel"})
        octoprint_server.wait_state(lambda s: s == "Operational", 15)


@pytest.fixture
def moonraker(tmp_path: Path) -> Iterator[Moonraker]:
    """A Moonraker + Klipper stub of the test's own (~1 s to start); prints take 30 s."""
    server = Moonraker(tmp_path / "moonraker", print_seconds=30).start()
    yield server
    server.stop()
