"""`/api/v1/cv/...`: a real monitor (loopback camera, synthetic frames, real detector) behind the
add-on's API; the live frame, the MJPEG stream, the timeline and bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
import cv2
import numpy as np
import pytest
import pytest_asyncio

from jarvis_addon.cameras.http_sources import UrlSnapshotSource
from jarvis_addon.cv.monitor import CameraMonitor, CameraSpec, CvService
from jarvis_addon.cv.synth import make_sequence
from jarvis_addon.mqtt import MqttBridge
from jarvis_addon.web import ApiState, create_app
from tests.addons.jarvis.bridge_status import BridgeStatus
from tests.support.mosquitto import Mosquitto

from .bridge import started_bridge
from .camera_server import CameraServer
from .printer_link import LocalPrinters

pytestmark = pytest.mark.asyncio
TOKEN = "token-for-cv-routes-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CAMERA = "mk4_cam"


@dataclass
class Site:
    client: TestClient[Any, Any]
    monitor: CameraMonitor
    camera: CameraServer


@pytest_asyncio.fixture
async def bridge(broker: Mosquitto) -> AsyncIterator[MqttBridge]:
    """The monitor publishes its events on a real bridge (none happen in these tests)."""
    b = await started_bridge(broker, connected=False)
    yield b
    await b.stop()


@pytest_asyncio.fixture
async def site(tmp_path: Path, bridge: MqttBridge) -> AsyncIterator[Site]:
    frames = [f.jpeg for f in make_sequence(1, "clean", length=4).frames()]
    camera = await CameraServer(frames).start()
    async with aiohttp.ClientSession() as session:
        spec = CameraSpec(CAMERA, "mk4", UrlSnapshotSource(session, f"{camera.url}/snap.jpg"))
        printers = LocalPrinters("mk4")
        monitor = CameraMonitor(spec, printers, bridge, tmp_path / "cv")
        service = CvService([monitor], printers)
        state = ApiState(api_token=TOKEN, mqtt=BridgeStatus(), cv=service)
        client: TestClient[Any, Any] = TestClient(TestServer(create_app(state), host="127.0.0.1"))
        await client.start_server()
        try:
            yield Site(client, monitor, camera)
        finally:
            await client.close()
            await camera.stop()


def decoded(data: bytes) -> tuple[int, int]:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return int(img.shape[1]), int(img.shape[0])


async def test_live_frame_follows_the_monitor(site: Site) -> None:
    client = site.client
    cams = await (await client.get("/api/v1/cv/cameras", headers=AUTH)).json()
    assert [c["id"] for c in cams["cameras"]] == [CAMERA]
    assert cams["cameras"][0]["live"] is None and cams["cameras"][0]["state"] == "idle"
    # No frame before the monitor took one.
    resp = await client.get(f"/api/v1/cv/cameras/{CAMERA}/frame.jpg", headers=AUTH)
    assert resp.status == 404
    assert (await resp.json())["error"] == "no_frame"

    await site.monitor.step()
    live = (await (await client.get(f"/api/v1/cv/cameras/{CAMERA}/live", headers=AUTH)).json())[
        "live"
    ]
    assert live["frame"] == 1 and live["level"] == "calibrating" and live["box"] is None
    first = await client.get(f"/api/v1/cv/cameras/{CAMERA}/frame.jpg", headers=AUTH)
    assert first.status == 200 and first.content_type == "image/jpeg"
    assert first.headers["X-Frame-Index"] == "1"
    first_jpeg = await first.read()
    assert decoded(first_jpeg) == (640, 480)

    await site.monitor.step()
    second = await client.get(f"/api/v1/cv/cameras/{CAMERA}/frame.jpg", headers=AUTH)
    assert second.headers["X-Frame-Index"] == "2"
    assert await second.read() != first_jpeg
    one = await (await client.get(f"/api/v1/cv/cameras/{CAMERA}", headers=AUTH)).json()
    assert one["live"]["frame"] == 2 and one["frames"] == 2


async def test_mjpeg_stream_sends_a_part_per_new_frame(site: Site) -> None:
    await site.monitor.step()
    resp = await site.client.get(f"/api/v1/cv/cameras/{CAMERA}/stream.mjpg", headers=AUTH)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=jarvisframe"
    reader = aiohttp.MultipartReader.from_response(resp)
    part = await reader.next()
    assert isinstance(part, aiohttp.BodyPartReader)
    assert part.headers["Content-Type"] == "image/jpeg"
    first = await part.read()
    assert decoded(bytes(first)) == (640, 480)
    await site.monitor.step()
    part = await reader.next()
    assert isinstance(part, aiohttp.BodyPartReader)
    assert bytes(await part.read()) != bytes(first)
    resp.close()


async def test_unknown_camera_is_a_404_naming_it(site: Site) -> None:
    for tail in ("", "/live", "/frame.jpg", "/stream.mjpg", "/events", "/evidence/x.jpg"):
        resp = await site.client.get(f"/api/v1/cv/cameras/nope{tail}", headers=AUTH)
        assert (resp.status, resp.content_type) == (404, "application/json"), tail
        body = await resp.json()
        assert body == {
            "error": "unknown_camera",
            "message": f"unknown camera 'nope' (known: {CAMERA})",
        }, tail


async def test_only_evidence_named_by_an_event_is_served(site: Site, tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not for you")
    for name in ("secret.jpg", "..%2Fsecret.jpg"):
        resp = await site.client.get(f"/api/v1/cv/cameras/{CAMERA}/evidence/{name}", headers=AUTH)
        assert resp.status == 404, name
        assert (await resp.json())["error"] in ("unknown_evidence", "not_found"), name
    events = await (await site.client.get("/api/v1/cv/events", headers=AUTH)).json()
    assert events == {"events": []}


async def test_cv_routes_need_the_token(site: Site) -> None:
    resp = await site.client.get("/api/v1/cv/cameras")
    assert resp.status == 401


async def test_without_cameras_there_are_no_cv_routes() -> None:
    state = ApiState(api_token=TOKEN, mqtt=BridgeStatus())
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(state), host="127.0.0.1"))
    await client.start_server()
    try:
        resp = await client.get("/api/v1/cv/cameras", headers=AUTH)
        assert resp.status == 404
        assert (await resp.json())["message"] == "no route for GET /api/v1/cv/cameras"
    finally:
        await client.close()
