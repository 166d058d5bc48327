"""Fixtures for the integration's tests: real HA (phcc), a real Mosquitto, the real add-on worker."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import prometheus_client
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import pytest_socket

from custom_components.jarvis.const import CONF_API_TOKEN, DOMAIN
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.printer_peers import moonraker, octoprint, octoprint_server
from tests.support.worker import Worker

__all__ = ["moonraker", "octoprint", "octoprint_server"]  # real printer peers for printer tests


def _allow_loopback_sockets() -> None:
    """Let these tests talk to their real peers over loopback.

    phcc blocks creating sockets before every test; its connect guard (127.0.0.1 only) stays.
    Session fixtures run inside the first test's setup, after that block, so they call this too.
    """
    pytest_socket.enable_socket()


@pytest.fixture(autouse=True)
def real_loopback_sockets() -> None:
    """Every test here may use loopback sockets."""
    _allow_loopback_sockets()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let HA load custom_components/jarvis."""


@pytest.fixture(autouse=True)
async def ha_core(hass: HomeAssistant, tmp_path: Path) -> None:
    """HA as it always is for an integration: its core component set up, a config dir of its own.

    The config dir is private so HA's files (the ledger's SQLite database) never land in phcc's
    package folder. Pure tests (router/, addon/) override this with a no-op.
    """
    hass.config.config_dir = str(tmp_path / "config")
    (tmp_path / "config").mkdir(exist_ok=True)
    assert await async_setup_component(hass, "homeassistant", {})


@pytest.fixture
def prometheus_registry(monkeypatch: pytest.MonkeyPatch) -> prometheus_client.CollectorRegistry:
    """A fresh default registry for HA's prometheus integration (as HA's own tests do).

    The integration registers its metrics in prometheus_client's process-wide REGISTRY; a second
    set-up in the same process would collide with the first one's metrics.
    """
    registry = prometheus_client.CollectorRegistry(auto_describe=True)
    monkeypatch.setattr(prometheus_client, "REGISTRY", registry)
    return registry


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Generator[Mosquitto]:
    """One real broker for the session."""
    _allow_loopback_sockets()
    with Mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture(scope="session")
def session_worker(
    tmp_path_factory: pytest.TempPathFactory, mosquitto: Mosquitto
) -> Generator[Worker]:
    """A real add-on worker shared by tests that only read from it."""
    _allow_loopback_sockets()
    worker = Worker(tmp_path_factory.mktemp("worker"), mqtt_port=mosquitto.port).start()
    yield worker
    worker.stop()


@pytest.fixture
def worker(tmp_path: Path, mosquitto: Mosquitto) -> Generator[Worker]:
    """A real add-on worker of the test's own (tests that kill or restart it)."""
    proc = Worker(tmp_path / "worker", mqtt_port=mosquitto.port).start()
    yield proc
    proc.stop()


@pytest.fixture
def entry_for(hass: HomeAssistant) -> Any:
    """Make (not set up) a Jarvis entry for a worker, as the config flow would."""

    def make(worker: Worker, token: str | None = None) -> MockConfigEntry:
        health = worker.health()
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="Jarvis",
            unique_id=str(health["instance_id"]),
            data={CONF_URL: worker.url, CONF_API_TOKEN: token or worker.api_token},
        )
        entry.add_to_hass(hass)
        return entry

    return make


@dataclass
class OtherService:
    """A real HTTP server that is not the add-on: what a mistyped URL may point at."""

    url: str
    # path -> (status, JSON body or raw text)
    routes: dict[str, tuple[int, Any]] = field(default_factory=dict)


@pytest.fixture
async def other_service() -> AsyncGenerator[OtherService]:
    """Serve OtherService.routes on a free loopback port."""
    service = OtherService(
        url="", routes={"/api/v1/health": (200, {"status": "ok", "app": "other"})}
    )

    async def handler(request: web.Request) -> web.StreamResponse:
        status, body = service.routes.get(request.path, (404, {"error": "not_found"}))
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    service.url = f"http://127.0.0.1:{port}"
    yield service
    await runner.cleanup()
