"""A PrinterManager sink for tests: keeps the job events (the worker publishes them over MQTT)."""

from __future__ import annotations

from typing import Any


class Outbox:
    """Where the manager's output goes in a test; states are read back through the manager."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def printer_state(
        self, printer_id: str, payload: dict[str, Any], available: bool
    ) -> None:
        """States are read back through the API, not here."""

    async def printer_event(self, printer_id: str, payload: dict[str, Any]) -> None:
        self.events.append(payload)

    async def printer_snapshot(self, printer_id: str, image: bytes) -> None:
        """No webcam on the virtual printer."""

    @property
    def names(self) -> list[str]:
        """The job events' names, in order."""
        return [str(e["event"]) for e in self.events]
