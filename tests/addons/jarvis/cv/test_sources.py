"""Camera sources against real loopback peers: HTTP snapshot/MJPEG, HA's camera_proxy, OpenCV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest

from jarvis_addon.cameras.base import CameraAuthError, CameraError
from jarvis_addon.cameras.http_sources import HaCameraSource, UrlSnapshotSource
from jarvis_addon.cameras.opencv_source import OpenCvStreamSource
from tests.support.mosquitto import free_port

from .camera_server import CameraServer
from .test_frames import jpeg

FRAMES = [jpeg(320, 240, 80), jpeg(320, 240, 60)]


@pytest.fixture
async def server() -> AsyncIterator[CameraServer]:
    srv = await CameraServer(list(FRAMES)).start()
    yield srv
    await srv.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_url_snapshot(server: CameraServer, session: aiohttp.ClientSession) -> None:
    src = UrlSnapshotSource(session, f"{server.url}/snap.jpg")
    assert await src.snapshot() == FRAMES[0]
    assert await src.snapshot() == FRAMES[1]
    await src.close()


async def test_mjpeg_stream_gives_its_first_frame(
    server: CameraServer, session: aiohttp.ClientSession
) -> None:
    src = UrlSnapshotSource(session, f"{server.url}/stream.mjpg")
    assert await src.snapshot() == FRAMES[0]


async def test_url_failures_are_camera_errors(
    server: CameraServer, session: aiohttp.ClientSession
) -> None:
    server.mode = "error"
    with pytest.raises(CameraError, match="HTTP 503"):
        await UrlSnapshotSource(session, f"{server.url}/snap.jpg").snapshot()
    server.mode = "slow"
    with pytest.raises(CameraError, match=r"timed out after 0\.3s"):
        await UrlSnapshotSource(session, f"{server.url}/snap.jpg", timeout=0.3).snapshot()
    with pytest.raises(CameraError, match="ClientConnectorError"):
        await UrlSnapshotSource(session, f"http://127.0.0.1:{free_port()}/x.jpg").snapshot()


async def test_credentials_never_appear_in_messages(session: aiohttp.ClientSession) -> None:
    src = UrlSnapshotSource(session, f"http://user:s3cret@127.0.0.1:{free_port()}/x.jpg")
    assert "s3cret" not in src.description
    with pytest.raises(CameraError) as info:
        await src.snapshot()
    assert "s3cret" not in str(info.value)


async def test_ha_camera_proxy(server: CameraServer, session: aiohttp.ClientSession) -> None:
    src = HaCameraSource(session, "camera.printer", server.token, base_url=server.url)
    assert src.description == "Home Assistant camera.printer"
    assert await src.snapshot() == FRAMES[0]
    with pytest.raises(CameraAuthError, match="HTTP 401"):
        await HaCameraSource(session, "camera.printer", "wrong", base_url=server.url).snapshot()
    with pytest.raises(CameraError, match="HTTP 404"):
        await HaCameraSource(session, "camera.other", server.token, base_url=server.url).snapshot()
    with pytest.raises(ValueError, match="not a camera entity id"):
        HaCameraSource(session, "light.desk", server.token)


async def test_opencv_reads_a_stream_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 5, (160, 120))
    for i in range(5):
        writer.write(np.full((120, 160, 3), 40 * i, np.uint8))
    writer.release()
    data = await OpenCvStreamSource(str(path), timeout=5).snapshot()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (120, 160, 3)


async def test_opencv_unreachable_stream_is_a_camera_error() -> None:
    src = OpenCvStreamSource(f"rtsp://viewer:pw@127.0.0.1:{free_port()}/live", timeout=2)
    assert src.description.startswith("rtsp://***@127.0.0.1")
    with pytest.raises(CameraError, match=r"cannot open the stream|no frame"):
        await src.snapshot()
