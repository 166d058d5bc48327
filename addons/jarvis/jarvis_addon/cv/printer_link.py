"""Glue from the printer manager's job events to the monitor's PrinterLink (no printers import).

The printer manager reports jobs as `{"event": "job_started" | "job_paused" | "job_resumed" |
"job_finished" | "job_failed" | "job_cancelled", "printer_id": ...}` through its sink. Wrap the
manager in `ManagerLink(manager)` and call `link.printer_event(printer_id, payload)` from the sink.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

from .monitor import JobEvent, JobListener

JOB_EVENTS: Final[dict[str, JobEvent]] = {
    "job_started": JobEvent.STARTED,
    "job_paused": JobEvent.PAUSED,
    "job_resumed": JobEvent.RESUMED,
    "job_finished": JobEvent.STOPPED,
    "job_failed": JobEvent.STOPPED,
    "job_cancelled": JobEvent.STOPPED,
}


class Pauser(Protocol):
    """What the manager offers: `async_pause(printer_id, reason)`."""

    def async_pause(self, printer_id: str, reason: str) -> Awaitable[object]:
        """Pause; raises when it cannot."""
        ...


class ManagerLink:
    """A PrinterLink over anything with async_pause, fed job events by `printer_event`."""

    def __init__(self, pauser: Pauser) -> None:
        """No listeners yet."""
        self._pauser = pauser
        self._listeners: list[JobListener] = []

    async def async_pause(self, printer_id: str, reason: str) -> object:
        """Pause through the manager."""
        return await self._pauser.async_pause(printer_id, reason)

    def add_job_listener(self, listener: JobListener) -> Callable[[], None]:
        """Subscribe; returns the unsubscribe callable."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def printer_event(self, printer_id: str, payload: Mapping[str, Any]) -> None:
        """Relay a manager event; events that are not job changes are ignored."""
        event = JOB_EVENTS.get(str(payload.get("event")))
        if event is None:
            return
        for listener in list(self._listeners):
            listener(printer_id, event)
