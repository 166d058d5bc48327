"""End-to-end tests drive real processes over loopback, as a user's client would."""

from __future__ import annotations

import pytest
import pytest_socket


@pytest.fixture(autouse=True)
def real_loopback_sockets() -> None:
    """phcc blocks sockets before each test; these tests need them (its 127.0.0.1-only guard stays)."""
    pytest_socket.enable_socket()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per seed user story (tests/e2e/test_scenarios.py), at the end of the run."""
    from .scenario_shop import STORY_LINES

    if STORY_LINES:
        terminalreporter.section("seed user stories (tests/e2e/test_scenarios.py)")
        for line in STORY_LINES:
            terminalreporter.write_line(line)
