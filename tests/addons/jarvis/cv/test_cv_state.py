"""The monitor's state where others see it: retained MQTT state + discovery, and /api/v1/cv/monitors.

Real MqttBridge on a real Mosquitto, a loopback camera, the real monitor; the HTTP routes on the
add-on's own aiohttp app.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import json
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
import pytest

from jarvis_addon.cameras.http_sources import UrlSnapshotSource
from jarvis_addon.cv.monitor import CameraMonitor, CameraSpec, CvService, JobEvent, MonitorState
from jarvis_addon.cv.mqtt_glue import CvMqtt, cv_state_topic, discovery_message
from jarvis_addon.mqtt import Broker, MqttBridge
from jarvis_addon.web import ApiState, create_app
from tests.addons.mqtt_probe import StatusProbe, clear_retained
from tests.support.mosquitto import Mosquitto

from .camera_server import CameraServer
from .printer_link import LocalPrinters
from .test_monitor import CAMERA, NEGATIVE, bridge, frames_of, session, until

__all__ = ["bridge", "session"]  # fixtures
TOKEN = "token-for-cv-state-0123456789"


@pytest.fixture
async def camera() -> AsyncIterator[CameraServer]:
    frames, _ = frames_of(*NEGATIVE, limit=20)
    server = await CameraServer(frames).start()
    yield server
    await server.stop()


def make_service(
    server: CameraServer, session: aiohttp.ClientSession, bridge: MqttBridge, tmp_path: Path
) -> tuple[CvService, LocalPrinters]:
    printers = LocalPrinters("mk4")
    spec = CameraSpec(CAMERA, "mk4", UrlSnapshotSource(session, f"{server.url}/snap.jpg"))
    mon = CameraMonitor(spec, printers, bridge, tmp_path, interval=0.05)
    return CvService([mon], printers), printers


def states(probe: StatusProbe) -> list[dict[str, Any]]:
    return [json.loads(payload) for payload, _ in probe.seen]


async def test_state_changes_are_published_retained_with_discovery(
    broker: Mosquitto, session: aiohttp.ClientSession, camera: CameraServer, tmp_path: Path
) -> None:
    target = Broker(broker.host, broker.port)

    async def resolve() -> Broker:
        return target

    bridge = MqttBridge(resolve, keepalive=5, reconnect_min=0.1, reconnect_max=0.3)
    service, printers = make_service(camera, session, bridge, tmp_path)
    glue = CvMqtt(bridge)
    glue.attach(service)  # before the bridge connects, as in the worker
    discovery_topic, config = discovery_message(CAMERA, "mk4")
    discovery = await asyncio.to_thread(StatusProbe, broker.host, broker.port, discovery_topic)
    probe = await asyncio.to_thread(StatusProbe, broker.host, broker.port, cv_state_topic(CAMERA))
    service.start()
    glue.start()
    bridge.start()
    try:
        _, retained = await asyncio.to_thread(discovery.wait_for, json.dumps(config), 10.0)
        assert retained is False  # live: published while the probe listened
        assert config["state_topic"] == cv_state_topic(CAMERA)
        assert set(config["options"]) == {s.value for s in MonitorState}
        await until(lambda: any(s["state"] == "idle" for s in states(probe)), 10, "idle state")

        printers.start_job("mk4")
        await until(lambda: any(s["state"] == "calibrating" for s in states(probe)), 10, "calib")
        camera.mode = "error"
        await until(lambda: any(s["state"] == "degraded" for s in states(probe)), 10, "degraded")
        degraded = next(s for s in states(probe) if s["state"] == "degraded")
        assert degraded["camera"] == CAMERA and degraded["printer_id"] == "mk4"
        assert "HTTP 503" in degraded["reason"] and degraded["consecutive_errors"] >= 1
        count = len(probe.seen)
        await asyncio.sleep(0.3)  # several failing frames, one reason: nothing new published
        assert len(probe.seen) == count
        camera.mode = "ok"
        await until(lambda: states(probe)[-1]["state"] != "degraded", 10, "recovered")
        assert states(probe)[-1]["reason"] is None
        printers.finish("mk4")
        await until(lambda: states(probe)[-1]["state"] == "idle", 10, "idle again")

        # A late subscriber gets the current state: it is retained.
        late = await asyncio.to_thread(
            StatusProbe, broker.host, broker.port, cv_state_topic(CAMERA)
        )
        try:
            await until(lambda: bool(late.seen), 10, "retained state")
            assert late.seen[-1][1] is True and json.loads(late.seen[-1][0])["state"] == "idle"
        finally:
            await asyncio.to_thread(late.close)
    finally:
        await glue.stop()
        await service.stop()
        await bridge.stop()
        await asyncio.to_thread(probe.close)
        await asyncio.to_thread(discovery.close)
        for topic in (discovery_topic, cv_state_topic(CAMERA)):
            await asyncio.to_thread(clear_retained, broker.host, broker.port, topic)


async def test_api_lists_monitors_and_names_an_unknown_camera(
    bridge: MqttBridge, session: aiohttp.ClientSession, camera: CameraServer, tmp_path: Path
) -> None:
    service, _ = make_service(camera, session, bridge, tmp_path)
    mon = service.monitors[0]
    mon.on_job_event(JobEvent.STARTED)
    await until(lambda: mon.status.frames >= 2, 10, "frames")
    camera.mode = "corrupt"
    await until(lambda: mon.status.state is MonitorState.DEGRADED, 10, "degraded")
    client: TestClient[Any, Any] = TestClient(
        TestServer(create_app(ApiState(api_token=TOKEN, mqtt=bridge, cv=service)), host="127.0.0.1")
    )
    await client.start_server()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        resp = await client.get("/api/v1/cv/monitors", headers=auth)
        assert resp.status == 200
        (item,) = (await resp.json())["monitors"]
        assert item["id"] == CAMERA and item["printer_id"] == "mk4"
        assert item["state"] == "degraded" and "not a decodable image" in item["reason"]
        assert item["source"].endswith("/snap.jpg")
        resp = await client.get(f"/api/v1/cv/monitors/{CAMERA}", headers=auth)
        assert (await resp.json())["state"] == "degraded"
        resp = await client.get("/api/v1/cv/monitors/nope", headers=auth)
        assert resp.status == 404
        assert await resp.json() == {
            "error": "unknown_camera",
            "message": "no camera 'nope' is configured",
        }
        assert (await client.get("/api/v1/cv/monitors")).status == 401
    finally:
        await client.close()
        await service.stop()
