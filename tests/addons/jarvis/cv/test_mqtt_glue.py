"""The CV monitors on MQTT: discovery, state and live frames, on a real Mosquitto."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import json
from pathlib import Path
import queue
import secrets
import threading

import aiohttp
import cv2
import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
import pytest
import pytest_asyncio

from jarvis_addon.cameras.http_sources import UrlSnapshotSource
from jarvis_addon.cv.discovery import discovery_messages
from jarvis_addon.cv.monitor import CameraMonitor, CameraSpec, CvService
from jarvis_addon.cv.mqtt_glue import CvMqtt
from jarvis_addon.cv.synth import make_sequence
from jarvis_addon.mqtt import Broker, MqttBridge
from tests.support.mosquitto import Mosquitto

from .bridge import until
from .camera_server import CameraServer
from .printer_link import LocalPrinters

CAMERA = "mk4_cam"


class Recorder:
    """A paho subscriber keeping every (topic -> latest payload bytes, retained)."""

    def __init__(self, host: str, port: int, *topics: str) -> None:
        self.messages: dict[str, tuple[bytes, bool]] = {}
        self._lock = threading.Lock()
        subscribed: queue.Queue[bool] = queue.Queue()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"cv-recorder-{secrets.token_hex(4)}"
        )
        self._client.on_connect = lambda c, *_a: c.subscribe([(t, 1) for t in topics])
        self._client.on_subscribe = lambda *_a: subscribed.put(True)
        self._client.on_message = self._on_message
        self._client.connect(host, port, keepalive=10)
        self._client.loop_start()
        subscribed.get(timeout=10)

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages[msg.topic] = (bytes(msg.payload), bool(msg.retain))

    def get(self, topic: str) -> tuple[bytes, bool] | None:
        with self._lock:
            return self.messages.get(topic)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest_asyncio.fixture
async def bridge(broker: Mosquitto) -> AsyncIterator[MqttBridge]:
    target = Broker(broker.host, broker.port)

    async def resolve() -> Broker:
        return target

    b = MqttBridge(resolve, keepalive=5, reconnect_min=0.1, reconnect_max=0.3)
    yield b
    await b.stop()


def test_discovery_names_a_camera_device_after_its_printer() -> None:
    messages = dict(discovery_messages(CAMERA, "mk4", "MK4"))
    assert sorted(messages) == [
        f"homeassistant/binary_sensor/jarvis_cv_{CAMERA}/failure/config",
        f"homeassistant/camera/jarvis_cv_{CAMERA}/live/config",
        f"homeassistant/event/jarvis_cv_{CAMERA}/event/config",
        f"homeassistant/sensor/jarvis_cv_{CAMERA}/score/config",
        f"homeassistant/sensor/jarvis_cv_{CAMERA}/state/config",
    ]
    state = messages[f"homeassistant/sensor/jarvis_cv_{CAMERA}/state/config"]
    assert state["device"]["name"] == "MK4 camera"
    assert state["device"]["via_device"] == "jarvis_printer_mk4"
    assert state["name"] == "Print monitor" and "paused_by_cv" in state["options"]
    event = messages[f"homeassistant/event/jarvis_cv_{CAMERA}/event/config"]
    assert event["state_topic"] == f"jarvis/cv/{CAMERA}/event"
    assert event["event_types"] == ["warning", "failure"]
    # Without a known printer the device is the camera id, and not linked.
    orphan = dict(discovery_messages(CAMERA, "gone", None))
    device = orphan[f"homeassistant/camera/jarvis_cv_{CAMERA}/live/config"]["device"]
    assert device["name"] == CAMERA and "via_device" not in device


@pytest.mark.asyncio
async def test_discovery_state_and_live_frames_are_published(
    broker: Mosquitto, bridge: MqttBridge, tmp_path: Path
) -> None:
    frames = [f.jpeg for f in make_sequence(1, "clean", length=3).frames()]
    camera = await CameraServer(frames).start()
    recorder = await asyncio.to_thread(
        Recorder,
        broker.host,
        broker.port,
        f"homeassistant/+/jarvis_cv_{CAMERA}/+/config",
        f"jarvis/cv/{CAMERA}/+",
    )
    async with aiohttp.ClientSession() as session:
        spec = CameraSpec(CAMERA, "mk4", UrlSnapshotSource(session, f"{camera.url}/snap.jpg"))
        printers = LocalPrinters("mk4")
        monitor = CameraMonitor(spec, printers, bridge, tmp_path / "cv")
        glue = CvMqtt(bridge, CvService([monitor], printers), {"mk4": "MK4"}, interval=0.05)
        bridge.start()
        glue.start()
        try:
            state_topic = f"jarvis/cv/{CAMERA}/state"
            await until(lambda: recorder.get(state_topic), 10, "state")
            for topic, config in discovery_messages(CAMERA, "mk4", "MK4"):
                await until(lambda t=topic: recorder.get(t), 5, topic)  # type: ignore[misc]
                payload, _retained = recorder.get(topic) or (b"", False)
                assert json.loads(payload) == config
            state = json.loads((recorder.get(state_topic) or (b"", False))[0])
            assert state["state"] == "idle" and state["printer_id"] == "mk4"
            assert recorder.get(f"jarvis/cv/{CAMERA}/live") is None  # no frame yet

            await monitor.step()
            await until(lambda: recorder.get(f"jarvis/cv/{CAMERA}/live"), 5, "live frame")
            jpeg, _retained = recorder.get(f"jarvis/cv/{CAMERA}/live") or (b"", False)
            img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert img.shape[:2] == (480, 640)
            await until(
                lambda: (
                    json.loads((recorder.get(state_topic) or (b"{}", False))[0]).get("frames") == 1
                ),
                5,
                "state with one frame",
            )
            # Retained: a subscriber that comes later (HA after a restart) gets all of it.
            late = await asyncio.to_thread(
                Recorder,
                broker.host,
                broker.port,
                f"homeassistant/+/jarvis_cv_{CAMERA}/+/config",
                f"jarvis/cv/{CAMERA}/+",
            )
            try:
                await until(lambda: len(late.messages) == 7, 5, "retained messages")
                assert all(retained for _payload, retained in late.messages.values())
                assert late.get(f"jarvis/cv/{CAMERA}/live") == (jpeg, True)
            finally:
                await asyncio.to_thread(late.close)
        finally:
            await glue.stop()
            await asyncio.to_thread(recorder.close)
            await camera.stop()
