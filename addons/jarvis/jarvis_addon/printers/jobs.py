"""Print jobs: the job state machine, progress/ETA and the persisted history. Pure but for the file.

A job is what Jarvis started: preheating -> uploading -> printing <-> paused -> finished /
cancelled / failed. Printer observations (`observe`) move it along; nothing else does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
import json
import logging
from pathlib import Path
import secrets
from typing import Any, Final

from .base import STATE_ERROR, STATE_IDLE, STATE_PAUSED, STATE_PRINTING, PrinterStatus

_LOGGER = logging.getLogger(__name__)

JOB_PREHEATING: Final = "preheating"
JOB_UPLOADING: Final = "uploading"
JOB_PRINTING: Final = "printing"
JOB_PAUSED: Final = "paused"
JOB_FINISHED: Final = "finished"
JOB_CANCELLED: Final = "cancelled"
JOB_FAILED: Final = "failed"
ACTIVE: Final = frozenset({JOB_PREHEATING, JOB_UPLOADING, JOB_PRINTING, JOB_PAUSED})
DONE: Final = frozenset({JOB_FINISHED, JOB_CANCELLED, JOB_FAILED})
HISTORY_LIMIT: Final = 200
# Below this a print that went back to idle did not finish (OctoPrint reports no explicit outcome).
FINISHED_AT: Final = 99.5
# Right after a start the printer may still report idle for a moment: not a failure yet.
START_GRACE_S: Final = 10.0


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat(timespec="seconds") if when else None


@dataclass(slots=True)
class Job:
    """One print Jarvis started."""

    printer_id: str
    filename: str
    id: str = field(default_factory=lambda: secrets.token_hex(6))
    state: str = JOB_PREHEATING
    created_at: datetime = field(default_factory=_now)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    progress: float = 0.0
    time_left_s: float | None = None
    error: str | None = None
    pauses: list[dict[str, str]] = field(default_factory=list)
    cancel_requested: bool = False

    @property
    def active(self) -> bool:
        """Not finished, cancelled or failed."""
        return self.state in ACTIVE

    @property
    def eta(self) -> datetime | None:
        """When it should finish, from the printer's time-left estimate."""
        if self.state != JOB_PRINTING or self.time_left_s is None:
            return None
        return _now() + timedelta(seconds=self.time_left_s)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (datetimes as ISO 8601)."""
        data = asdict(self)
        for key in ("created_at", "started_at", "ended_at"):
            data[key] = _iso(getattr(self, key))
        data["eta"] = _iso(self.eta)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        """Inverse of as_dict (history file)."""

        def when(key: str) -> datetime | None:
            value = data.get(key)
            return datetime.fromisoformat(value) if value else None

        return cls(
            printer_id=str(data["printer_id"]),
            filename=str(data["filename"]),
            id=str(data["id"]),
            state=str(data["state"]),
            created_at=when("created_at") or _now(),
            started_at=when("started_at"),
            ended_at=when("ended_at"),
            progress=float(data.get("progress") or 0.0),
            time_left_s=data.get("time_left_s"),
            error=data.get("error"),
            pauses=list(data.get("pauses") or []),
            cancel_requested=bool(data.get("cancel_requested")),
        )

    def to(self, state: str, error: str | None = None) -> str | None:
        """Move to state; returns the job event name ("job_started", ...) or None if unchanged."""
        if state == self.state or self.state in DONE:
            return None
        previous, self.state = self.state, state
        if error:
            self.error = error
        if state == JOB_PRINTING and previous in (JOB_PREHEATING, JOB_UPLOADING):
            self.started_at = _now()
            return "job_started"
        if state == JOB_PRINTING:
            return "job_resumed"
        if state == JOB_PAUSED:
            return "job_paused"
        if state in DONE:
            self.ended_at = _now()
            if state == JOB_FINISHED:
                self.progress = 100.0
                self.time_left_s = 0
            return f"job_{state}"
        return None

    def pause_requested(self, reason: str) -> None:
        """Remember why it was paused (request, CV alert, ...)."""
        self.pauses.append({"at": _iso(_now()) or "", "reason": reason})

    def observe(self, status: PrinterStatus) -> str | None:
        """Update from what the printer reports; returns a job event name or None."""
        if self.state not in (JOB_PRINTING, JOB_PAUSED):
            return None
        if status.progress is not None and status.state in (STATE_PRINTING, STATE_PAUSED):
            self.progress = status.progress
            self.time_left_s = status.time_left_s
        if status.state == STATE_PRINTING:
            return self.to(JOB_PRINTING)
        if status.state == STATE_PAUSED:
            return self.to(JOB_PAUSED)
        if status.state == STATE_ERROR:
            return self.to(JOB_FAILED, status.message or "the printer reported an error")
        if status.state == STATE_IDLE:
            if status.message == "complete" or (
                status.message != "cancelled"
                and not self.cancel_requested
                and (status.progress or 0) >= FINISHED_AT
            ):
                return self.to(JOB_FINISHED)
            if self.cancel_requested or status.message == "cancelled":
                return self.to(JOB_CANCELLED)
            if self.started_at and (_now() - self.started_at).total_seconds() < START_GRACE_S:
                return None
            return self.to(JOB_FAILED, f"the printer went idle at {self.progress:.0f} %")
        return None  # offline/unreachable: keep the job; it may come back


class JobHistory:
    """Jobs by id, newest last, persisted as JSON (atomic replace) under the data directory."""

    def __init__(self, path: Path | None, limit: int = HISTORY_LIMIT) -> None:
        """Load what the file holds (a damaged file is set aside, not fatal)."""
        self._path = path
        self._limit = limit
        self._jobs: dict[str, Job] = {}
        if path and path.exists():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                for item in raw.get("jobs", []):
                    job = Job.from_dict(item)
                    self._jobs[job.id] = job
            except (OSError, ValueError, KeyError, TypeError) as err:
                aside = path.with_suffix(".damaged")
                _LOGGER.warning("Job history %s unreadable (%s); moved to %s", path, err, aside)
                path.replace(aside)
        for job in self._jobs.values():
            # Jobs alive when the worker stopped are still observed when their printer answers.
            _LOGGER.debug("Loaded job %s (%s)", job.id, job.state)

    def add(self, job: Job) -> None:
        """Record a new job (the oldest finished ones go beyond the limit)."""
        self._jobs[job.id] = job
        while len(self._jobs) > self._limit:
            oldest = next(iter(self._jobs))
            del self._jobs[oldest]
        self.save()

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        return self._jobs.get(job_id)

    def active_for(self, printer_id: str) -> Job | None:
        """The printer's running job, if Jarvis started one."""
        for job in reversed(self._jobs.values()):
            if job.printer_id == printer_id and job.active:
                return job
        return None

    def recent(self, printer_id: str | None = None, limit: int = 20) -> list[Job]:
        """Newest first."""
        jobs: Iterable[Job] = reversed(self._jobs.values())
        if printer_id:
            jobs = (j for j in jobs if j.printer_id == printer_id)
        return list(jobs)[:limit]

    def save(self) -> None:
        """Write the file (temp + replace, so a crash never leaves half a file)."""
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"jobs": [j.as_dict() for j in self._jobs.values()]}, indent=1),
            encoding="utf-8",
        )
        tmp.replace(self._path)
