"""Fixtures for the add-on tests: real Mosquitto, a fake Supervisor, the worker as a subprocess.

Add-on specific on purpose: tests/conftest.py stays free of add-on and HA imports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.mosquitto import Mosquitto, free_port

from .fake_supervisor import FakeSupervisor
from .mqtt_probe import StatusProbe, clear_retained
from .worker_process import Worker

DEFAULT_TIMEOUT = 60  # seconds per test unless a test says otherwise
_MEASUREMENTS: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every add-on test a timeout, so a hung broker or process fails instead of blocking CI."""
    here = Path(__file__).resolve().parent
    for item in items:
        if (
            here in Path(str(item.path)).resolve().parents
            and item.get_closest_marker("timeout") is None
        ):
            item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show what the tests measured (load times, token rates): reported, never asserted."""
    if _MEASUREMENTS:
        terminalreporter.section("add-on measurements")
        for line in _MEASUREMENTS:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def measure() -> Callable[[str], None]:
    """Record one measured figure for the summary at the end of the run."""
    return _MEASUREMENTS.append


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One real broker for the session (tests that restart a broker use `private_broker`)."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.stop()


@pytest.fixture
def broker(mosquitto: Mosquitto) -> Mosquitto:
    """The session broker with `jarvis/status` cleared, so no retained state leaks between tests."""
    clear_retained(mosquitto.host, mosquitto.port)
    return mosquitto


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker of this test's own, NOT started: the test decides when it is up or down."""
    broker = Mosquitto(tmp_path / "private-mosquitto", port=free_port())
    yield broker
    broker.stop()


@pytest.fixture
def fake_supervisor() -> Iterator[FakeSupervisor]:
    """A running fake Supervisor; point it at a broker with `fake.mqtt = {...}`."""
    fake = FakeSupervisor().start()
    yield fake
    fake.stop()


@pytest.fixture
def probe() -> Iterator[Callable[[Mosquitto], StatusProbe]]:
    """Factory of `jarvis/status` subscribers, all closed at teardown."""
    probes: list[StatusProbe] = []

    def make(broker: Mosquitto) -> StatusProbe:
        p = StatusProbe(broker.host, broker.port)
        probes.append(p)
        return p

    yield make
    for p in probes:
        p.close()


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Factory of worker processes (not started); every one is killed by PID at teardown."""
    workers: list[Worker] = []

    def make(options: dict[str, Any] | str | None, **kwargs: Any) -> Worker:
        w = Worker(tmp_path / f"worker{len(workers)}", options, **kwargs)
        workers.append(w)
        return w

    yield make
    for w in workers:
        w.close()
