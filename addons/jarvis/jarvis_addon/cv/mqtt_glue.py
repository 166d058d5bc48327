"""The CV monitor's state on MQTT: retained `jarvis/cv/<camera>/state` and an HA discovery sensor.

The sensor ("Print monitor" of a device per camera, an enum of `MonitorState`) shows whether a
printer is being watched and, when not, why: a broken camera is `degraded` with the reason among
its attributes. A state is published when the state or its reason changes (not per frame); the
latest state per camera wins, so a burst of changes never publishes stale states out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial
import json
import logging
from typing import Any, Final, Protocol

from .. import __version__
from ..mqtt import STATUS_TOPIC, TOPIC_PREFIX
from .monitor import CameraMonitor, CvService, MonitorState

_LOGGER = logging.getLogger(__name__)

DISCOVERY_PREFIX: Final = "homeassistant"


class Publisher(Protocol):
    """The MQTT bridge's publish and connect hook (mqtt.MqttBridge)."""

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish, or keep it for the next connection."""
        ...

    def on_connect(self, handler: Any) -> None:
        """Run handler after every (re)connect."""
        ...


def cv_state_topic(camera_id: str) -> str:
    """`jarvis/cv/<camera_id>/state`: the monitor's state (retained)."""
    return f"{TOPIC_PREFIX}/cv/{camera_id}/state"


def discovery_message(camera_id: str, printer_id: str) -> tuple[str, dict[str, Any]]:
    """The discovery (topic, config) of one camera's monitor sensor."""
    node = f"jarvis_cv_{camera_id}"
    topic = cv_state_topic(camera_id)
    return (
        f"{DISCOVERY_PREFIX}/sensor/{node}/state/config",
        {
            "name": "Print monitor",
            "unique_id": f"{node}_state",
            "state_topic": topic,
            "value_template": "{{ value_json.state }}",
            "json_attributes_topic": topic,
            "device_class": "enum",
            "options": [state.value for state in MonitorState],
            "availability_topic": STATUS_TOPIC,
            "icon": "mdi:cctv",
            "device": {
                "identifiers": [f"jarvis_camera_{camera_id}"],
                "name": camera_id,
                "manufacturer": "Jarvis",
                "model": f"Print-failure monitor (printer {printer_id})",
                "sw_version": __version__,
            },
            "origin": {"name": "Jarvis add-on", "sw": __version__},
        },
    )


def state_payload(service: CvService, camera_id: str) -> dict[str, Any]:
    """What the state topic carries: the monitor's status without its last event."""
    status = service.status()[camera_id]
    return {"camera": camera_id, **{k: v for k, v in status.items() if k != "last_event"}}


class CvMqtt:
    """Publishes discovery on every connect and each monitor's state when it changes."""

    def __init__(self, bridge: Publisher) -> None:
        """Call attach(service), then start() from the running loop."""
        self._bridge = bridge
        self._service: CvService | None = None
        self._published: dict[str, tuple[str, str | None]] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def attach(self, service: CvService) -> None:
        """Hook every monitor's status changes; publish discovery on every connect."""
        self._service = service
        for mon in service.monitors:
            mon.on_status = partial(self._changed, mon)
            self._dirty.add(mon.spec.camera_id)  # the first state (idle) too
        self._bridge.on_connect(self._on_connect)
        self._wake.set()

    def start(self) -> None:
        """Start the publisher task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="jarvis-cv-state")

    async def stop(self) -> None:
        """Stop publishing."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _changed(self, mon: CameraMonitor) -> None:
        key = (mon.status.state.value, mon.status.reason)
        if self._published.get(mon.spec.camera_id) != key:
            self._dirty.add(mon.spec.camera_id)
            self._wake.set()

    async def _on_connect(self) -> None:
        if self._service is None:
            return
        for mon in self._service.monitors:
            topic, config = discovery_message(mon.spec.camera_id, mon.spec.printer_id)
            await self._bridge.publish(topic, json.dumps(config), retain=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            for camera_id in sorted(dirty):
                await self._publish_state(camera_id)

    async def _publish_state(self, camera_id: str) -> None:
        if self._service is None or (mon := self._service.get(camera_id)) is None:
            return
        self._published[camera_id] = (mon.status.state.value, mon.status.reason)
        payload = json.dumps(state_payload(self._service, camera_id))
        try:
            await self._bridge.publish(cv_state_topic(camera_id), payload, retain=True)
        except Exception as err:  # noqa: BLE001 - the bridge keeps it for the reconnect
            _LOGGER.warning("CV state of %s not published: %s", camera_id, err)
