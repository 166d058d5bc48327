"""The CV monitors on MQTT: discovery on every connect, each camera's state and live frame.

Events are published by the monitor itself (`jarvis/cv/<camera>/event`); this publishes the rest
of what the discovered entities read: `jarvis/cv/<camera>/state` (retained JSON, when it changes)
and `jarvis/cv/<camera>/live` (retained JPEG with the detection drawn on it, once per new frame).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
import contextlib
import json
import logging
from typing import Any, Final, Protocol

from .discovery import cv_topic, discovery_messages
from .frames import FrameError
from .live import AnnotatedCache
from .monitor import CvService

_LOGGER = logging.getLogger(__name__)

PUBLISH_INTERVAL: Final = 1.0  # seconds between looks at the monitors (they sample every ~2 s)


class Bridge(Protocol):
    """What this needs from mqtt.MqttBridge."""

    def on_connect(self, handler: Callable[[], Awaitable[None]]) -> None:
        """Run handler after every (re)connect."""

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish now or when connected again."""


class CvMqtt:
    """Publishes discovery, state and live frames of every camera monitor."""

    def __init__(
        self,
        bridge: Bridge,
        service: CvService,
        printer_names: Mapping[str, str],
        *,
        interval: float = PUBLISH_INTERVAL,
    ) -> None:
        """printer_names: printer id -> name (names the camera's device); call start()."""
        self._bridge = bridge
        self._service = service
        self._names = dict(printer_names)
        self._interval = interval
        self._cache = AnnotatedCache()
        self._sent_state: dict[str, str] = {}
        self._sent_frame: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        # A monitor's status change wakes the loop at once: a state that lasts one frame (a
        # single broken JPEG) is published too, not only what a poll happens to see.
        self._wake = asyncio.Event()
        for mon in service.monitors:
            mon.on_status = self._wake.set
        bridge.on_connect(self._on_connect)

    def start(self) -> None:
        """Begin publishing (from the running loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="cv-mqtt")

    async def stop(self) -> None:
        """Stop publishing."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _on_connect(self) -> None:
        for mon in self._service.monitors:
            spec = mon.spec
            for topic, config in discovery_messages(
                spec.camera_id, spec.printer_id, self._names.get(spec.printer_id)
            ):
                await self._bridge.publish(topic, json.dumps(config), retain=True)
        # A new broker session gets the current state again.
        self._sent_state.clear()
        self._sent_frame.clear()
        await self.publish_changes()

    async def _loop(self) -> None:
        while True:
            try:
                await self.publish_changes()
            except Exception:  # a bug must not end publishing silently
                _LOGGER.exception("CV MQTT: publishing failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()

    async def publish_changes(self) -> None:
        """Publish each camera's state if it changed and its live frame if there is a new one."""
        for mon in self._service.monitors:
            cam = mon.spec.camera_id
            status: dict[str, Any] = {**mon.status.as_dict(), "printer_id": mon.spec.printer_id}
            payload = json.dumps(status, default=str, sort_keys=True)
            if self._sent_state.get(cam) != payload:
                await self._bridge.publish(cv_topic(cam, "state"), payload, retain=True)
                self._sent_state[cam] = payload
            latest = mon.latest
            if latest is not None and self._sent_frame.get(cam) != latest.index:
                try:
                    jpeg = await asyncio.to_thread(self._cache.get, cam, latest)
                except FrameError as err:
                    _LOGGER.warning("CV MQTT: live frame of %s not drawn: %s", cam, err)
                    continue
                finally:
                    self._sent_frame[cam] = latest.index
                await self._bridge.publish(cv_topic(cam, "live"), jpeg, retain=True)
