"""The job state machine and its persisted history (pure but for a temp file)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from jarvis_addon.printers.base import PrinterStatus
from jarvis_addon.printers.jobs import JOB_PRINTING, JOB_UPLOADING, Job, JobHistory


def _printing(job: Job) -> Job:
    job.to(JOB_UPLOADING)
    assert job.to(JOB_PRINTING) == "job_started"
    return job


def test_progress_eta_pause_resume_finish() -> None:
    job = _printing(Job(printer_id="p1", filename="a.gcode"))
    assert job.observe(PrinterStatus(state="printing", progress=40.0, time_left_s=60)) is None
    assert job.progress == 40.0
    eta = job.eta
    assert eta is not None and timedelta(seconds=55) < eta - datetime.now(UTC) < timedelta(
        seconds=65
    )
    assert job.observe(PrinterStatus(state="paused", progress=40.0)) == "job_paused"
    assert job.eta is None
    assert job.observe(PrinterStatus(state="printing", progress=41.0)) == "job_resumed"
    assert job.observe(PrinterStatus(state="idle", progress=100.0)) == "job_finished"
    assert job.progress == 100.0 and job.ended_at is not None
    # Finished is final.
    assert job.observe(PrinterStatus(state="printing")) is None


def test_outcomes() -> None:
    cancelled = _printing(Job(printer_id="p", filename="a.gcode"))
    cancelled.cancel_requested = True
    assert cancelled.observe(PrinterStatus(state="idle", progress=30.0)) == "job_cancelled"
    klipper_cancel = _printing(Job(printer_id="p", filename="a.gcode"))
    assert (
        klipper_cancel.observe(PrinterStatus(state="idle", message="cancelled")) == "job_cancelled"
    )
    complete = _printing(Job(printer_id="p", filename="a.gcode"))
    assert (
        complete.observe(PrinterStatus(state="idle", message="complete", progress=99.0))
        == "job_finished"
    )
    error = _printing(Job(printer_id="p", filename="a.gcode"))
    assert error.observe(PrinterStatus(state="error", message="thermal runaway")) == "job_failed"
    assert error.error == "thermal runaway"
    # Just started and still idle: not a failure yet; long after: failed.
    fresh = _printing(Job(printer_id="p", filename="a.gcode"))
    assert fresh.observe(PrinterStatus(state="idle", progress=0.0)) is None
    assert fresh.started_at is not None
    fresh.started_at -= timedelta(seconds=60)
    assert fresh.observe(PrinterStatus(state="idle", progress=10.0)) == "job_failed"
    # Offline: keep the job.
    gone = _printing(Job(printer_id="p", filename="a.gcode"))
    assert gone.observe(PrinterStatus(state="unreachable")) is None
    assert gone.state == JOB_PRINTING


def test_history_persists_and_survives_damage(tmp_path: Path) -> None:
    path = tmp_path / "printers" / "jobs.json"
    history = JobHistory(path, limit=3)
    jobs = [Job(printer_id="p1" if i % 2 else "p2", filename=f"{i}.gcode") for i in range(4)]
    for job in jobs:
        history.add(job)
    _printing(jobs[-1])
    history.save()
    again = JobHistory(path, limit=3)
    assert [j.id for j in again.recent()] == [j.id for j in reversed(jobs[1:])]
    assert again.active_for("p1") is not None and again.active_for("p1").id == jobs[3].id  # type: ignore[union-attr]
    assert [j.filename for j in again.recent("p2")] == ["2.gcode"]
    assert again.get(jobs[0].id) is None
    path.write_text("{not json")
    damaged = JobHistory(path)
    assert damaged.recent() == []
    assert path.with_suffix(".damaged").exists()
