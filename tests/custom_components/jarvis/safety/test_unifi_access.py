"""The UniFi Access client against the loopback console: answers, and every way it fails."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta

import aiohttp
from homeassistant.util import dt as dt_util
import pytest

from custom_components.jarvis.safety.unifi_access import (
    UnifiAccessAuthError,
    UnifiAccessClient,
    UnifiAccessError,
    UnifiAccessUnavailableError,
)
from tests.support.fake_unifi_access import FakeUnifiAccess


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def _client(
    session: aiohttp.ClientSession, unifi: FakeUnifiAccess, **kwargs: object
) -> UnifiAccessClient:
    options: dict[str, object] = {"verify_ssl": False, **kwargs}
    token = str(options.pop("token", unifi.token))
    return UnifiAccessClient(session, unifi.url + "/", token, **options)  # type: ignore[arg-type]


async def test_users_badges_and_unlock(
    session: aiohttp.ClientSession, unifi: FakeUnifiAccess
) -> None:
    unifi.add_user("u1", "Ada Lovelace")
    unifi.add_door("d1", "Front")
    now = dt_util.utcnow()
    unifi.badge_in("u1", "d1", when=now - timedelta(minutes=3))
    unifi.badge_in("u1", "d1", when=now - timedelta(minutes=1), credential="PIN_CODE")
    client = _client(session, unifi)
    assert (await client.get_user("u1"))["status"] == "ACTIVE"
    badge = await client.recent_badge_in("u1", ("d1",), now - timedelta(minutes=10), now)
    assert badge is not None and badge.credential == "PIN_CODE" and badge.door_id == "d1"
    assert await client.recent_badge_in("u1", ("d2",), now - timedelta(minutes=10), now) is None
    assert unifi.log_queries[0]["topic"] == "door_openings"
    await client.unlock_door("d1", actor_id="a", actor_name="A", extra={"request_id": "r"})
    assert unifi.unlocks[0].body == {
        "actor_id": "a",
        "actor_name": "A",
        "extra": {"request_id": "r"},
    }


async def test_failures_are_typed(session: aiohttp.ClientSession, unifi: FakeUnifiAccess) -> None:
    unifi.add_door("d1", "Front")
    with pytest.raises(UnifiAccessAuthError, match="401"):
        await _client(session, unifi, token="wrong").get_user("u1")
    with pytest.raises(UnifiAccessError, match="CODE_RESOURCE_NOT_FOUND"):
        await _client(session, unifi).get_user("nobody")
    with pytest.raises(UnifiAccessError, match="CODE_RESOURCE_NOT_FOUND"):
        await _client(session, unifi).unlock_door("d9", actor_id="a", actor_name="A", extra={})
    # The console's self-signed certificate is refused unless verification is off.
    with pytest.raises(UnifiAccessUnavailableError):
        await _client(session, unifi, verify_ssl=True).get_user("u1")
    unifi.raw = (502, "<html>Bad gateway</html>")
    with pytest.raises(UnifiAccessError, match="502 without JSON"):
        await _client(session, unifi).get_user("u1")
    unifi.raw = (200, '{"code": "CODE_AUTH_FAILED", "msg": "expired", "data": null}')
    with pytest.raises(UnifiAccessAuthError, match="CODE_AUTH_FAILED"):
        await _client(session, unifi).get_user("u1")
    unifi.raw = (200, '{"code": "SUCCESS", "data": []}')
    with pytest.raises(UnifiAccessError, match="no user"):
        await _client(session, unifi).get_user("u1")
    unifi.raw = None
    unifi.delay = 2.0
    with pytest.raises(UnifiAccessUnavailableError, match="unreachable"):
        await _client(session, unifi, timeout=0.2).get_user("u1")
    unifi.delay = 0.0
    await unifi.stop()
    with pytest.raises(UnifiAccessUnavailableError, match="unreachable"):
        await _client(session, unifi).get_user("u1")
