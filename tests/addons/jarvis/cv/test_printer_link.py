"""ManagerLink maps the printer manager's job event names onto the monitor's JobEvent."""

from __future__ import annotations

from jarvis_addon.cv.monitor import JobEvent
from jarvis_addon.cv.printer_link import ManagerLink


class Manager:
    def __init__(self) -> None:
        self.paused: list[tuple[str, str]] = []

    async def async_pause(self, printer_id: str, reason: str) -> dict[str, str]:
        self.paused.append((printer_id, reason))
        return {"state": "paused"}


async def test_events_and_pause_are_relayed() -> None:
    manager = Manager()
    link = ManagerLink(manager)
    seen: list[tuple[str, JobEvent]] = []
    unsubscribe = link.add_job_listener(lambda p, e: seen.append((p, e)))
    for name in ("job_started", "job_paused", "job_resumed", "job_failed", "temperature"):
        link.printer_event("mk4", {"event": name, "printer_id": "mk4"})
    assert seen == [
        ("mk4", JobEvent.STARTED),
        ("mk4", JobEvent.PAUSED),
        ("mk4", JobEvent.RESUMED),
        ("mk4", JobEvent.STOPPED),
    ]
    assert await link.async_pause("mk4", "CV: spaghetti") == {"state": "paused"}
    assert manager.paused == [("mk4", "CV: spaghetti")]
    unsubscribe()
    link.printer_event("mk4", {"event": "job_finished"})
    assert len(seen) == 4
