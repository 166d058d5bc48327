"""SupervisorClient against a fake Supervisor that speaks the real wire format over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
import socket

import aiohttp
import pytest
import pytest_asyncio

from jarvis_addon.supervisor import DEFAULT_URL, MqttService, SupervisorClient, SupervisorError
from tests.addons.fake_supervisor import FakeSupervisor
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def client_for(
    fake: FakeSupervisor, session: aiohttp.ClientSession, **kwargs: float
) -> SupervisorClient:
    return SupervisorClient(session, fake.token, fake.url, **kwargs)


async def test_mqtt_service_is_parsed_and_token_sent(
    fake_supervisor: FakeSupervisor, session: aiohttp.ClientSession
) -> None:
    fake_supervisor.mqtt = {
        "host": "core-mosquitto",
        "port": 1883,
        "username": "addons",
        "password": "pw-from-mosquitto",
    }
    svc = await client_for(fake_supervisor, session).get_mqtt_service()
    assert svc == MqttService("core-mosquitto", 1883, False, "addons", "pw-from-mosquitto", "3.1.1")
    assert "pw-from-mosquitto" not in repr(svc)
    [req] = fake_supervisor.requests
    assert (req.method, req.path, req.authorization) == (
        "GET",
        "/services/mqtt",
        f"Bearer {fake_supervisor.token}",
    )


async def test_no_mqtt_provider_is_a_typed_error(
    fake_supervisor: FakeSupervisor, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(SupervisorError, match=r"GET /services/mqtt: HTTP 400: Service not enabled"):
        await client_for(fake_supervisor, session).get_mqtt_service()


async def test_incomplete_mqtt_data_is_a_typed_error(
    fake_supervisor: FakeSupervisor, session: aiohttp.ClientSession
) -> None:
    fake_supervisor.failures["/services/mqtt"] = (200, {"result": "ok", "data": {"host": "x"}})
    with pytest.raises(SupervisorError, match="unexpected data"):
        await client_for(fake_supervisor, session).get_mqtt_service()


async def test_wrong_or_missing_token_is_refused(
    fake_supervisor: FakeSupervisor, session: aiohttp.ClientSession
) -> None:
    wrong = SupervisorClient(session, "not-the-token", fake_supervisor.url)
    with pytest.raises(SupervisorError, match="HTTP 403") as info:
        await wrong.get_mqtt_service()
    assert "not-the-token" not in str(info.value)
    empty = SupervisorClient(session, "", fake_supervisor.url)
    with pytest.raises(SupervisorError, match=r"HTTP 40[13]"):
        await empty.announce({"host": "h"})


async def test_self_hostname(
    fake_supervisor: FakeSupervisor, session: aiohttp.ClientSession
) -> None:
    fake_supervisor.hostname = "a1b2c3d4-jarvis"
    assert await client_for(fake_supervisor, session).self_hostname() == "a1b2c3d4-jarvis"
    fake_supervisor.failures["/addons/self/info"] = (500, "boom")
    assert await client_for(fake_supervisor, session).self_hostname() == socket.gethostname()


async def test_announce_posts_discovery_and_returns_uuid(
    fake_supervisor: FakeSupervisor, session: aiohttp.ClientSession
) -> None:
    client = client_for(fake_supervisor, session)
    config = {"host": "local-jarvis", "port": 8099, "api_token": "tok"}
    first = await client.announce(config)
    assert len(first) == 32
    assert fake_supervisor.discoveries == [{"service": "jarvis", "config": config}]
    assert await client.announce(config) == first  # the Supervisor deduplicates identical messages
    assert await client.announce({**config, "port": 8100}) != first


async def test_announce_refused_for_an_undeclared_service(
    fake_supervisor: FakeSupervisor, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(SupervisorError, match="HTTP 403: Add-ons must list services"):
        await client_for(fake_supervisor, session).announce({"host": "h"}, service="other")


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (200, {"result": "ok", "data": {}}, "no uuid"),
        (200, {"result": "error", "message": "nope"}, "unexpected answer: nope"),
        (200, "<html>proxy page</html>", "unexpected answer"),
        (200, {"result": "ok", "data": ["not", "an", "object"]}, "not an object"),
        (502, "Bad Gateway", "HTTP 502"),
    ],
)
async def test_unexpected_answers_are_typed_errors(
    fake_supervisor: FakeSupervisor,
    session: aiohttp.ClientSession,
    status: int,
    body: object,
    match: str,
) -> None:
    fake_supervisor.failures["/discovery"] = (status, body)
    with pytest.raises(SupervisorError, match=match):
        await client_for(fake_supervisor, session).announce({"host": "h"})


async def test_unreachable_supervisor(session: aiohttp.ClientSession) -> None:
    client = SupervisorClient(session, "t", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SupervisorError, match="GET /services/mqtt: ClientConnectorError"):
        await client.get_mqtt_service()


async def test_every_call_times_out(
    fake_supervisor: FakeSupervisor, session: aiohttp.ClientSession
) -> None:
    fake_supervisor.delays["/discovery"] = 1.0
    with pytest.raises(SupervisorError, match=r"POST /discovery: timed out after 0.2s"):
        await client_for(fake_supervisor, session, timeout=0.2).announce({"host": "h"})


async def test_from_env(session: aiohttp.ClientSession) -> None:
    assert SupervisorClient.from_env(session, {}) is None
    assert SupervisorClient.from_env(session, {"SUPERVISOR_TOKEN": ""}) is None
    default = SupervisorClient.from_env(session, {"SUPERVISOR_TOKEN": "t"})
    assert default is not None and default.base_url == DEFAULT_URL
    custom = SupervisorClient.from_env(
        session, {"SUPERVISOR_TOKEN": "t", "SUPERVISOR_URL": "http://127.0.0.1:1/"}
    )
    assert custom is not None and custom.base_url == "http://127.0.0.1:1"
