"""End-to-end tests drive real processes over loopback, as a user's client would."""

from __future__ import annotations

import pytest
import pytest_socket


@pytest.fixture(autouse=True)
def real_loopback_sockets() -> None:
    """phcc blocks sockets before each test; these tests need them (its 127.0.0.1-only guard stays)."""
    pytest_socket.enable_socket()
