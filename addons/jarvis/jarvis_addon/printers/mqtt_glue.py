"""Printers on MQTT: commands in, acks/state/events/snapshots/discovery out (DESIGN.md contracts)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
import json
import logging
from typing import Any, Final, Protocol

import aiomqtt

from .. import metrics
from .commands import CommandRouter
from .discovery import device_topic, discovery_messages
from .manager import PrinterManager

_LOGGER = logging.getLogger(__name__)

COMMAND_SUBSCRIPTION: Final = "jarvis/devices/+/cmd"
AVAILABLE: Final = "online"
UNAVAILABLE: Final = "offline"


class Publisher(Protocol):
    """The MQTT bridge's publish and subscribe (mqtt.MqttBridge)."""

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish (or keep for the next connection)."""

    def subscribe(self, topic: str, handler: Any) -> None:
        """Handle messages on topic."""

    def on_connect(self, handler: Any) -> None:
        """Run after every connect."""


# Job events that end a job, and how /metrics names their result.
_JOB_RESULTS: Final = {
    "job_finished": "completed",
    "job_cancelled": "cancelled",
    "job_failed": "failed",
}


class PrinterMqtt:
    """The manager's Sink on MQTT, and the command subscription feeding the CommandRouter."""

    def __init__(self, bridge: Publisher) -> None:
        """Call attach() once the manager exists."""
        self._bridge = bridge
        self._manager: PrinterManager | None = None
        self._router: CommandRouter | None = None
        self._event_listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self._state_listeners: list[Callable[[str, dict[str, Any], bool], None]] = []

    def add_event_listener(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Also tell listener (printer id, payload) of every job event (the CV monitor)."""
        self._event_listeners.append(listener)

    def add_state_listener(self, listener: Callable[[str, dict[str, Any], bool], None]) -> None:
        """Also tell listener (printer id, state payload, available) of every state change."""
        self._state_listeners.append(listener)

    @property
    def router(self) -> CommandRouter | None:
        """The command router (after attach)."""
        return self._router

    def attach(self, manager: PrinterManager) -> None:
        """Subscribe to commands; publish discovery on every connect."""
        self._manager = manager
        self._router = CommandRouter(manager)
        self._bridge.subscribe(COMMAND_SUBSCRIPTION, self._on_command)
        self._bridge.on_connect(self._on_connect)

    async def _on_connect(self) -> None:
        if self._manager is None:
            return
        for pid in self._manager.printer_ids:
            for topic, config in discovery_messages(self._manager.config(pid)):
                await self._bridge.publish(topic, json.dumps(config), retain=True)
        await self._manager.republish()

    async def _on_command(self, message: aiomqtt.Message) -> None:
        if self._router is None:
            return
        device_id = str(message.topic).split("/")[2]
        payload = (
            message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        )
        ack = await self._router.handle(device_id, payload)
        if ack is None:
            return
        await self._bridge.publish(device_topic(device_id, "ack"), json.dumps(ack), qos=1)

    async def printer_state(
        self, printer_id: str, payload: dict[str, Any], available: bool
    ) -> None:
        """State (retained) and availability (retained); the state also in /metrics."""
        metrics.set_printer_state(
            printer_id, str(payload.get("state") or "unknown") if available else "offline"
        )
        for listener in list(self._state_listeners):
            listener(printer_id, payload, available)
        await self._bridge.publish(
            device_topic(printer_id, "availability"),
            AVAILABLE if available else UNAVAILABLE,
            retain=True,
        )
        await self._bridge.publish(
            device_topic(printer_id, "state"), json.dumps(payload, default=str), retain=True
        )

    async def printer_event(self, printer_id: str, payload: dict[str, Any]) -> None:
        """Job events (not retained: each happens once); counted in /metrics, told to listeners."""
        job = payload.get("job") or {}
        result = _JOB_RESULTS.get(str(payload.get("event")))
        if result is not None and job.get("started_at") and job.get("ended_at"):
            started = datetime.fromisoformat(job["started_at"])
            ended = datetime.fromisoformat(job["ended_at"])
            metrics.observe_print_job(printer_id, result, (ended - started).total_seconds())
        for listener in list(self._event_listeners):
            listener(printer_id, payload)
        await self._bridge.publish(
            device_topic(printer_id, "event"), json.dumps(payload, default=str)
        )

    async def printer_snapshot(self, printer_id: str, image: bytes) -> None:
        """The webcam image for the discovered image entity (retained: HA shows the last one)."""
        await self._bridge.publish(device_topic(printer_id, "snapshot"), image, retain=True)
