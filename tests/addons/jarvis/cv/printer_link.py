"""A real in-process implementation of the monitor's PrinterLink: printers with job states.

Not a mock: it keeps each printer's job state, refuses to pause a printer that is not printing
(as OctoPrint's 409 would), and tells listeners about every change, as the printer manager does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from jarvis_addon.cv.monitor import JobEvent, JobListener


class NotPrintingError(Exception):
    """Pause asked for a printer without a running job."""


class LocalPrinters:
    """Printers by id: `idle`, `printing` or `paused`; pauses are recorded with their reason."""

    def __init__(self, *printer_ids: str, pause_reported_later: bool = False) -> None:
        """`pause_reported_later`: the pause is told from the event loop after async_pause has
        returned, as the printer manager's status poll does, not from inside the call."""
        self.state = dict.fromkeys(printer_ids, "idle")
        self.pauses: list[tuple[str, str]] = []
        self._listeners: list[JobListener] = []
        self._pause_reported_later = pause_reported_later

    def add_job_listener(self, listener: JobListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _tell(self, printer_id: str, event: JobEvent) -> None:
        for listener in list(self._listeners):
            listener(printer_id, event)

    def start_job(self, printer_id: str) -> None:
        self.state[printer_id] = "printing"
        self._tell(printer_id, JobEvent.STARTED)

    async def async_pause(self, printer_id: str, reason: str) -> None:
        if self.state.get(printer_id) != "printing":
            raise NotPrintingError(f"{printer_id} is {self.state.get(printer_id, 'unknown')}")
        self.state[printer_id] = "paused"
        self.pauses.append((printer_id, reason))
        if self._pause_reported_later:
            asyncio.get_running_loop().call_soon(self._tell, printer_id, JobEvent.PAUSED)
        else:
            self._tell(printer_id, JobEvent.PAUSED)

    def resume(self, printer_id: str) -> None:
        self.state[printer_id] = "printing"
        self._tell(printer_id, JobEvent.RESUMED)

    def finish(self, printer_id: str) -> None:
        self.state[printer_id] = "idle"
        self._tell(printer_id, JobEvent.STOPPED)
