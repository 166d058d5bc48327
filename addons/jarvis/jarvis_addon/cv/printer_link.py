"""Glue from the printer manager's job events to the monitor's PrinterLink (no printers import).

The printer manager reports jobs as `{"event": "job_started" | "job_paused" | "job_resumed" |
"job_finished" | "job_failed" | "job_cancelled", "printer_id": ...}` through its sink. Wrap the
manager in `ManagerLink(manager)` and call `link.printer_event(printer_id, payload)` from the sink.

The manager only has job events for prints Jarvis started, and only for changes it sees. A print
started elsewhere (OctoPrint's own UI, a slicer's upload) or already running when the add-on
starts must be watched too, so `link.printer_state(printer_id, payload, available)` (from the
sink's state updates) tells listeners whatever the job events have not: each print is started,
paused, resumed and stopped exactly once whichever source saw it first.
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
# Printer states (printers.base) that end a print; offline/unreachable may come back mid-print.
_PRINT_ENDED: Final = frozenset({"idle", "error"})
# Job states (printers.jobs) before the print runs: the printer may already say "printing".
_JOB_STARTING: Final = frozenset({"preheating", "uploading"})
_AFTER: Final[dict[JobEvent, str | None]] = {
    JobEvent.STARTED: "printing",
    JobEvent.RESUMED: "printing",
    JobEvent.PAUSED: "paused",
    JobEvent.STOPPED: None,
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
        # Printer id -> "printing" / "paused": the last job event told, from either source.
        self._told: dict[str, str] = {}

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
        if event is not None:
            self._tell(printer_id, event)

    def printer_state(
        self, printer_id: str, payload: Mapping[str, Any], available: bool = True
    ) -> None:
        """Relay what job events have not said: prints Jarvis did not start, or that ran before."""
        job = payload.get("job")
        if isinstance(job, Mapping) and job.get("state") in _JOB_STARTING:
            return  # Jarvis is starting it: job_started follows
        state = str(payload.get("state"))
        told = self._told.get(printer_id)
        event: JobEvent | None = None
        if state == "printing" and told != "printing":
            event = JobEvent.RESUMED if told == "paused" else JobEvent.STARTED
        elif state == "paused" and told == "printing":
            # (Paused before we ever saw it print, e.g. at add-on start: watched once it resumes.)
            event = JobEvent.PAUSED
        elif state in _PRINT_ENDED and told is not None and not isinstance(job, Mapping):
            # With a Jarvis job still active its job event says when the print ends: an "idle"
            # here is a status read just before the print started, published just after.
            event = JobEvent.STOPPED
        if event is not None:
            self._tell(printer_id, event)

    def _tell(self, printer_id: str, event: JobEvent) -> None:
        after = _AFTER[event]
        if event is not JobEvent.STARTED and self._told.get(printer_id) == after:
            return  # already said (a job event and a state update of the same change)
        if after is None:
            self._told.pop(printer_id, None)
        else:
            self._told[printer_id] = after
        for listener in list(self._listeners):
            listener(printer_id, event)
