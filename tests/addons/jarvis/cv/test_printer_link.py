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


def _state(state: str, job_state: str | None = None) -> dict[str, object]:
    return {"state": state, "job": {"state": job_state} if job_state else None}


def test_prints_jarvis_did_not_start_are_followed_from_the_printer_state() -> None:
    link = ManagerLink(Manager())
    seen: list[JobEvent] = []
    link.add_job_listener(lambda _p, e: seen.append(e))
    # Started in OctoPrint's own UI: no job events, only states.
    for state in ("idle", "printing", "printing", "paused", "printing", "offline", "printing"):
        link.printer_state("mk4", _state(state))
    assert seen == [JobEvent.STARTED, JobEvent.PAUSED, JobEvent.RESUMED]
    link.printer_state("mk4", _state("idle"))
    link.printer_state("mk4", _state("error"))
    assert seen[-1] is JobEvent.STOPPED and len(seen) == 4
    # Paused before it was ever seen printing (the add-on started then): watched from the resume.
    seen.clear()
    link.printer_state("mk4", _state("paused"))
    assert seen == []
    link.printer_state("mk4", _state("printing"))
    assert seen == [JobEvent.STARTED]


def test_job_events_and_states_of_the_same_change_are_told_once() -> None:
    link = ManagerLink(Manager())
    seen: list[JobEvent] = []
    link.add_job_listener(lambda _p, e: seen.append(e))
    # Jarvis starts a job: the printer may say "printing" while the job is still uploading.
    link.printer_state("mk4", _state("printing", "uploading"))
    link.printer_event("mk4", {"event": "job_started"})
    link.printer_state("mk4", _state("printing", "printing"))
    # The monitor's own pause: the manager's job event, then the state update.
    link.printer_event("mk4", {"event": "job_paused"})
    link.printer_state("mk4", _state("paused", "paused"))
    link.printer_state("mk4", _state("printing", "printing"))  # resumed in OctoPrint's UI
    link.printer_event("mk4", {"event": "job_resumed"})
    link.printer_event("mk4", {"event": "job_finished"})
    link.printer_state("mk4", _state("idle"))
    assert seen == [JobEvent.STARTED, JobEvent.PAUSED, JobEvent.RESUMED, JobEvent.STOPPED]
    # A job already printing when the add-on started (no job_started will come): watched.
    other = ManagerLink(Manager())
    other.add_job_listener(lambda _p, e: seen.append(e))
    other.printer_state("mk4", _state("printing", "printing"))
    assert seen[-1] is JobEvent.STARTED


def test_a_stale_idle_state_does_not_stop_a_job_jarvis_just_started() -> None:
    """A poll read "idle" before the start and published after job_started (seen under load)."""
    link = ManagerLink(Manager())
    seen: list[JobEvent] = []
    link.add_job_listener(lambda _p, e: seen.append(e))
    link.printer_event("mk4", {"event": "job_started"})
    link.printer_state("mk4", _state("idle", "printing"))
    link.printer_state("mk4", _state("printing", "printing"))
    assert seen == [JobEvent.STARTED]
    # The job's own end is what stops the monitor, and a later idle says nothing more.
    link.printer_event("mk4", {"event": "job_cancelled"})
    link.printer_state("mk4", _state("idle"))
    assert seen == [JobEvent.STARTED, JobEvent.STOPPED]
