"""UniFi Protect snapshots through the real `uiprotect` client against a loopback console."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from uiprotect import ProtectApiClient

from jarvis_addon.cameras.base import CameraAuthError, CameraError
from jarvis_addon.cameras.unifi import UnifiProtectSource
from tests.support.mosquitto import free_port

from .fake_protect import FakeProtect
from .test_frames import jpeg

IMAGE = jpeg(640, 360)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[FakeProtect]:
    fake = await FakeProtect(tmp_path, {"cam1": IMAGE}).start()
    yield fake
    await fake.stop()


def client(session: aiohttp.ClientSession, port: int, password: str = "pw") -> ProtectApiClient:
    return ProtectApiClient(
        "127.0.0.1", port, "viewer", password, verify_ssl=False, session=session,
        store_sessions=False, max_retries=0,
    )  # fmt: skip


async def test_snapshot_after_login(console: FakeProtect) -> None:
    async with aiohttp.ClientSession() as session:
        src = UnifiProtectSource(client(session, console.port), "cam1")
        assert src.description == "UniFi Protect camera cam1"
        assert await src.snapshot() == IMAGE
        assert await src.snapshot() == IMAGE
    assert console.logins >= 1
    assert console.snapshot_requests[0]["force"] == "true"


async def test_wrong_password_is_an_auth_error(console: FakeProtect) -> None:
    async with aiohttp.ClientSession() as session:
        src = UnifiProtectSource(client(session, console.port, "wrong"), "cam1")
        with pytest.raises(CameraAuthError, match="not authorised"):
            await src.snapshot()


async def test_unknown_camera_and_unreachable_console(console: FakeProtect) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(CameraError, match="no image"):
            await UnifiProtectSource(client(session, console.port), "nope").snapshot()
        with pytest.raises(CameraError):
            await UnifiProtectSource(client(session, free_port()), "cam1", timeout=5).snapshot()
