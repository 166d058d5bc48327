"""The HTTP API in-process over real HTTP (aiohttp's TestServer on loopback)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
import pytest
import pytest_asyncio

from jarvis_addon import __version__
from jarvis_addon.mqtt import Broker
from jarvis_addon.web import ApiState, create_app
from tests.addons.jarvis.bridge_status import BridgeStatus

pytestmark = pytest.mark.asyncio

TOKEN = "api-token-for-tests-0123456789abcdef"


Factory = Callable[..., Any]


@pytest_asyncio.fixture
async def api() -> AsyncIterator[Factory]:
    """Factory: api(**ApiState overrides) -> started TestClient; all closed at teardown."""
    clients: list[TestClient[Any, Any]] = []

    async def make(**overrides: Any) -> TestClient[Any, Any]:
        state = ApiState(
            api_token=TOKEN,
            mqtt=BridgeStatus(
                reconnects=3,
                broker=Broker(
                    "core-mosquitto", 1883, "addons", "mqtt-pw-secret", source="supervisor"
                ),
            ),
            hostname="local-jarvis",
            instance_id="0123abcd",
            **overrides,
        )
        client: TestClient[Any, Any] = TestClient(TestServer(create_app(state), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_health_is_open_and_reports_state(api: Factory) -> None:
    client = await api()
    resp = await client.get("/api/v1/health")
    assert resp.status == 200
    body = await resp.json()
    uptime = body.pop("uptime_s")
    assert isinstance(uptime, float) and 0 <= uptime < 60
    assert body == {
        "app": "jarvis",
        "status": "ok",
        "version": __version__,
        "instance_id": "0123abcd",
        "mqtt": {"connected": True, "reconnects": 3},
        "authenticated": False,
        "llm": {"enabled": False, "ready": False, "model": None},  # no local model configured
    }


@pytest.mark.parametrize(
    ("headers", "authenticated"),
    [
        (bearer(), True),
        ({"Authorization": f"bearer {TOKEN}"}, True),  # the scheme is case-insensitive
        (bearer("wrong"), False),
        (bearer(TOKEN[:-1]), False),
        ({"Authorization": f"Basic {TOKEN}"}, False),
        ({"Authorization": TOKEN}, False),
        ({}, False),
    ],
)
async def test_health_says_whether_the_token_is_valid(
    api: Factory, headers: dict[str, str], authenticated: bool
) -> None:
    client = await api()
    resp = await client.get("/api/v1/health", headers=headers)
    assert resp.status == 200
    assert (await resp.json())["authenticated"] is authenticated


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), {"Authorization": f"Basic {TOKEN}"}])
async def test_info_needs_the_token(api: Factory, headers: dict[str, str]) -> None:
    client = await api()
    resp = await client.get("/api/v1/info", headers=headers)
    assert resp.status == 401
    assert resp.content_type == "application/json"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    body = await resp.json()
    assert body["error"] == "unauthorized" and body["message"]


async def test_info_with_token_never_shows_credentials(api: Factory) -> None:
    client = await api(supervised=True)
    resp = await client.get("/api/v1/info", headers=bearer())
    assert resp.status == 200
    text = await resp.text()
    assert "mqtt-pw-secret" not in text and TOKEN not in text
    body = await resp.json()
    assert body["app"] == "jarvis" and body["version"] == __version__
    assert body["hostname"] == "local-jarvis" and body["supervised"] is True
    assert body["started_at"].endswith("+00:00")
    assert body["mqtt"] == {
        "host": "core-mosquitto",
        "port": 1883,
        "source": "supervisor",
        "client_id": "jarvis-addon-test",
        "connected": True,
        "reconnects": 3,
    }


async def test_unknown_routes_are_json_404(api: Factory) -> None:
    client = await api()
    resp = await client.get("/api/v1/nope", headers=bearer())
    assert (resp.status, resp.content_type) == (404, "application/json")
    assert await resp.json() == {"error": "not_found", "message": "no route for GET /api/v1/nope"}
    resp = await client.get("/index.html")
    assert (resp.status, resp.content_type) == (404, "application/json")
    # Without the token an unknown API route is 401, so routes cannot be probed anonymously.
    resp = await client.get("/api/v1/nope")
    assert resp.status == 401


async def test_wrong_method_is_json_405(api: Factory) -> None:
    client = await api()
    resp = await client.post("/api/v1/health")
    assert (resp.status, resp.content_type) == (405, "application/json")
    assert (await resp.json())["error"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]


INGRESS = {"X-Ingress-Path": "/api/hassio_ingress/abc123"}


async def test_ingress_only_from_the_supervisor_proxy_when_supervised(api: Factory) -> None:
    client = await api(supervised=True)  # the test client connects from 127.0.0.1, not 172.30.32.2
    resp = await client.get("/api/v1/health", headers=INGRESS)
    assert (resp.status, resp.content_type) == (403, "application/json")
    assert (await resp.json())["error"] == "forbidden"
    resp = await client.get("/api/v1/info", headers={**INGRESS, **bearer()})
    assert resp.status == 403
    # Direct (non-ingress) requests are still served, e.g. the integration over the internal network.
    assert (await client.get("/api/v1/health")).status == 200


async def test_ingress_from_the_proxy_address_is_served(api: Factory) -> None:
    client = await api(supervised=True, ingress_peer="127.0.0.1")
    assert (await client.get("/api/v1/health", headers=INGRESS)).status == 200


async def test_ingress_not_enforced_outside_the_supervisor(api: Factory) -> None:
    client = await api(supervised=False)
    assert (await client.get("/api/v1/health", headers=INGRESS)).status == 200
