"""The CV print-failure monitor: samples a printer's camera while its job runs and acts on it.

Dependencies are Protocols so the monitor runs (and is tested) without the printers package:

- `PrinterLink`: `async_pause(printer_id, reason)` and `add_job_listener(listener)`; the printer
  manager provides both (the coordinator adapts it after merging).
- `EventPublisher`: `publish(topic, payload, qos=, retain=)`; `mqtt.MqttBridge` provides it.

Rules: a broken camera (offline, corrupt JPEG, zero-size frame, resolution change) puts the
monitor in a clear `degraded` state with the reason and never pauses a print; it recovers by
itself on the next good frames. A pause decision pauses through the link, saves the frame with the
detection drawn on it (sha256 recorded) and publishes `jarvis/cv/<camera>/event`; a warning only
publishes. Pause/resume reset the detector (no re-pause right after a resume); snooze is per job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
import hashlib
import json
import logging
from pathlib import Path
import time
from typing import Any, Final, Protocol

import cv2
import numpy as np

from .. import metrics
from ..cameras.base import CameraError, FrameSource
from ..mqtt import cv_event_topic
from .detector import Detection, Detector, DetectorConfig, Level
from .frames import FrameError, decode, decode_color

_LOGGER = logging.getLogger(__name__)

DEFAULT_INTERVAL: Final = 2.0
PAUSE_TIMEOUT: Final = 15.0
PUBLISH_TIMEOUT: Final = 10.0
WARNING_REPEAT_S: Final = 300.0  # one warning event per episode, at most every 5 min


class JobEvent(StrEnum):
    """Job lifecycle as the printer manager reports it."""

    STARTED = "started"
    PAUSED = "paused"
    RESUMED = "resumed"
    STOPPED = "stopped"  # done, cancelled or failed


JobListener = Callable[[str, JobEvent], None]


class PrinterLink(Protocol):
    """What the monitor needs from the printer manager."""

    async def async_pause(self, printer_id: str, reason: str) -> object:
        """Pause the printer's job; raises on failure (any result is ignored)."""
        ...

    def add_job_listener(self, listener: JobListener) -> Callable[[], None]:
        """Call listener(printer_id, event) on job changes; returns an unsubscribe callable."""
        ...


class EventPublisher(Protocol):
    """Publishes on MQTT (MqttBridge)."""

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish or raise."""
        ...


class MonitorState(StrEnum):
    """What a camera monitor is doing, for the API and entities."""

    IDLE = "idle"  # no job
    CALIBRATING = "calibrating"
    WATCHING = "watching"
    WARNING = "warning"
    PAUSED_BY_CV = "paused_by_cv"  # we paused the job; waiting for resume or stop
    PRINTER_PAUSED = "printer_paused"  # paused by someone else
    DEGRADED = "degraded"  # the camera is broken; never pauses in this state


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """One watched camera (from the add-on options)."""

    camera_id: str
    printer_id: str
    source: FrameSource
    region: tuple[tuple[float, float], ...] | None = None
    failure_scene: str | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """A saved snapshot with the detection drawn on it."""

    path: str
    sha256: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class LiveFrame:
    """The latest judged frame: what the web UI's live view shows (frame + detection)."""

    jpeg: bytes
    detection: Detection
    index: int  # Status.frames when it was taken: changes with every new frame
    at: float  # wall clock (time.time())


@dataclass(slots=True)
class Status:
    """Observable state of one camera monitor."""

    state: MonitorState = MonitorState.IDLE
    reason: str | None = None  # why degraded (or why a pause failed)
    score: float = 0.0
    frames: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    last_frame_at: float | None = None
    last_event: dict[str, Any] | None = None
    snoozed_until: float | None = None
    resolution: tuple[int, int] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return {
            "state": self.state.value,
            "reason": self.reason,
            "score": round(self.score, 3),
            "frames": self.frames,
            "errors": self.errors,
            "consecutive_errors": self.consecutive_errors,
            "resolution": list(self.resolution) if self.resolution else None,
            "snoozed": self.snoozed_until is not None and time.monotonic() < self.snoozed_until,
            "last_event": self.last_event,
        }


class CameraMonitor:
    """Watches one camera for one printer."""

    def __init__(
        self,
        spec: CameraSpec,
        printers: PrinterLink,
        publisher: EventPublisher,
        evidence_dir: Path,
        *,
        interval: float = DEFAULT_INTERVAL,
        config: DetectorConfig | None = None,
    ) -> None:
        """Nothing runs before a job starts (or `start_job()` is called)."""
        self.spec = spec
        self._printers = printers
        self._publisher = publisher
        self._evidence_dir = evidence_dir
        self._interval = interval
        cfg = config or DetectorConfig()
        if spec.region is not None:
            cfg = DetectorConfig(**{**_fields(cfg), "roi": spec.region})
        self.detector = Detector(cfg)
        if self.detector.model_error:
            # The learned decision could not be loaded: say so once, pausing still works.
            _LOGGER.warning("CV monitor %s: %s", spec.camera_id, self.detector.model_error)
        self.status = Status()
        self._task: asyncio.Task[None] | None = None
        self._active = False  # a job is printing (not paused)
        self._last_warning_at = -1e9
        self._warned = False
        self._in_pause = False  # _pause is running (pause, evidence, event)
        self._resumed = False
        self.latest: LiveFrame | None = None  # the last good frame and its detection
        # Called after every frame and job event (cv.mqtt_glue publishes state changes).
        self.on_status: Callable[[], None] | None = None

    # --- job events (called by the service from the printer link) ---------------------------

    def on_job_event(self, event: JobEvent) -> None:
        """React to the printer's job lifecycle."""
        _LOGGER.info(
            "CV monitor %s: job %s (after %d frames)",
            self.spec.camera_id,
            event.value,
            self.status.frames,
        )
        if event is JobEvent.STARTED:
            self.detector.reset(keep_region=False)
            self.detector.snooze(0.0)
            self.status = Status(state=MonitorState.CALIBRATING)
            self._warned = False
            self._resume_watching()
        elif event is JobEvent.PAUSED:
            self._active = False
            if self._in_pause:
                # Our own pause, told before _pause has saved the evidence and published: the
                # loop ends by itself after it (_active is off); cancelling it would lose both.
                self.status.state = MonitorState.PAUSED_BY_CV
            else:
                if self.status.state is not MonitorState.PAUSED_BY_CV:
                    self.status.state = MonitorState.PRINTER_PAUSED
                self._stop_loop()
        elif event is JobEvent.RESUMED:
            self._resumed = True
            # Fresh smoothing after a pause: no re-pause on the state that was already judged.
            self.detector.reset()
            self.status.state = MonitorState.WATCHING
            self.status.reason = None
            self._warned = False
            self._resume_watching()
        elif event is JobEvent.STOPPED:
            self._active = False
            self._stop_loop()
            self.status.state = MonitorState.IDLE
        self._status_changed()

    def _status_changed(self) -> None:
        if self.on_status is not None:
            self.on_status()

    def snooze(self, seconds: float) -> None:
        """No warning or pause for this long (this job only: a new job clears it)."""
        until = time.monotonic() + seconds
        self.detector.snooze(until)
        self.status.snoozed_until = until

    def _resume_watching(self) -> None:
        self._active = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name=f"cv-{self.spec.camera_id}")

    def _stop_loop(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def stop(self) -> None:
        """Stop sampling (shutdown)."""
        self._active = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while self._active:
            started = time.monotonic()
            try:
                await self.step()
            except Exception:  # a bug must not end monitoring silently
                _LOGGER.exception("CV monitor %s: unexpected error", self.spec.camera_id)
            self._status_changed()
            await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - started)))

    # --- one frame ---------------------------------------------------------------------------

    async def step(self) -> Detection | None:
        """Take and judge one frame; returns the detection, or None if the camera failed."""
        cam = self.spec.camera_id
        try:
            data = await self.spec.source.snapshot()
            started = time.perf_counter()  # /metrics: decode + detect, not the camera's latency
            image, size = decode(data, color=True)
        except (CameraError, FrameError) as err:
            self._degrade(str(err))
            return None
        if self.status.resolution is not None and size != self.status.resolution:
            old = self.status.resolution
            self.status.resolution = size
            # The view changed under us: start over (recalibrate) and say so.
            self.detector.reset(keep_region=False)
            self._degrade(
                f"resolution changed from {old[0]}x{old[1]} to {size[0]}x{size[1]}; recalibrating"
            )
            return None
        self.status.resolution = size
        now = time.monotonic()
        det = self.detector.process(image, now)
        metrics.observe_cv_frame(cam, time.perf_counter() - started)
        if det.level in (Level.PAUSE, Level.WARNING):
            metrics.count_cv_detection(cam, "failure" if det.level is Level.PAUSE else "warning")
        st = self.status
        st.frames += 1
        st.last_frame_at = now
        st.consecutive_errors = 0
        st.score = det.score
        self.latest = LiveFrame(data, det, st.frames, time.time())
        if st.state is MonitorState.DEGRADED:
            _LOGGER.info("CV monitor %s: camera recovered", cam)
            st.reason = None
        if det.level is Level.CALIBRATING:
            st.state = MonitorState.CALIBRATING
        elif det.level is Level.PAUSE:
            await self._pause(det, data)
        elif det.level is Level.WARNING:
            st.state = MonitorState.WARNING
            if not self._warned or now - self._last_warning_at > WARNING_REPEAT_S:
                self._warned = True
                self._last_warning_at = now
                await self._publish(self._event("warning", det, None, paused=False))
        else:
            st.state = MonitorState.WATCHING
            self._warned = False
        return det

    def _degrade(self, reason: str) -> None:
        st = self.status
        st.errors += 1
        st.consecutive_errors += 1
        if st.state is not MonitorState.DEGRADED or st.reason != reason:
            _LOGGER.warning("CV monitor %s degraded: %s", self.spec.camera_id, reason)
        st.state = MonitorState.DEGRADED
        st.reason = reason

    async def _pause(self, det: Detection, jpeg: bytes) -> None:
        self._in_pause = True
        try:
            await self._pause_with_evidence(det, jpeg)
        finally:
            self._in_pause = False
        self._status_changed()  # the loop may end right after this frame: say it now

    async def _pause_with_evidence(self, det: Detection, jpeg: bytes) -> None:
        spec = self.spec
        reason = f"CV: {det.kind or 'failure'} detected (score {det.score:.2f}) on {spec.camera_id}"
        pause_error = None
        self._resumed = False
        try:
            await asyncio.wait_for(
                self._printers.async_pause(spec.printer_id, reason), PAUSE_TIMEOUT
            )
        except Exception as err:  # noqa: BLE001 - the link's typed errors vary; all are reported
            pause_error = f"{type(err).__name__}: {err}"
            _LOGGER.error(
                "CV monitor %s: pausing %s failed: %s", spec.camera_id, spec.printer_id, pause_error
            )
        evidence = None
        try:
            evidence = await asyncio.to_thread(self._save_evidence, det, jpeg)
        except (OSError, FrameError) as err:
            _LOGGER.error("CV monitor %s: evidence not saved: %s", spec.camera_id, err)
        if pause_error is None and not self._resumed:
            self._active = False  # paused: no frames until the job resumes
        self.status.state = (
            MonitorState.PAUSED_BY_CV if pause_error is None else MonitorState.WARNING
        )
        self.status.reason = pause_error
        self.detector.reset()
        await self._publish(
            self._event("failure", det, evidence, paused=pause_error is None, error=pause_error)
        )

    def _save_evidence(self, det: Detection, jpeg: bytes) -> Evidence:
        img = decode_color(jpeg)
        draw_detection(img, det)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:  # pragma: no cover
            raise FrameError("could not encode the evidence image")
        data = buf.tobytes()
        digest = hashlib.sha256(data).hexdigest()
        folder = self._evidence_dir / self.spec.camera_id
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = folder / f"{stamp}-{digest[:12]}.jpg"
        path.write_bytes(data)
        return Evidence(str(path), digest, int(img.shape[1]), int(img.shape[0]))

    def _event(
        self,
        level: str,
        det: Detection,
        evidence: Evidence | None,
        *,
        paused: bool,
        error: str | None = None,
    ) -> dict[str, Any]:
        return {
            "camera": self.spec.camera_id,
            "printer_id": self.spec.printer_id,
            "level": level,
            "kind": det.kind,
            "score": round(det.score, 3),
            "box": list(det.box) if det.box else None,
            "paused": paused,
            "pause_error": error,
            "evidence": None
            if evidence is None
            else {
                "path": evidence.path,
                "sha256": evidence.sha256,
                "width": evidence.width,
                "height": evidence.height,
            },
            "failure_scene": self.spec.failure_scene if level == "failure" else None,
            "time": datetime.now(UTC).isoformat(),
        }

    async def _publish(self, event: dict[str, Any]) -> None:
        self.status.last_event = event
        self.status.events.append(event)
        del self.status.events[:-20]
        try:
            await asyncio.wait_for(
                self._publisher.publish(
                    cv_event_topic(self.spec.camera_id), json.dumps(event), qos=1
                ),
                PUBLISH_TIMEOUT,
            )
        except Exception as err:  # noqa: BLE001 - kept in status; an outage must not stop us
            _LOGGER.warning("CV monitor %s: event not published: %s", self.spec.camera_id, err)


def draw_detection(img: np.ndarray[Any, Any], det: Detection) -> None:
    """Draw the print region (blue) and the detection box (red) with its label, in place."""
    h, w = img.shape[:2]
    thick = max(2, w // 320)
    if det.region:
        poly = np.array([[round(x * w), round(y * h)] for x, y in det.region], np.int32)
        cv2.polylines(img, [poly], True, (255, 128, 0), thick)
    label = f"{det.kind or 'failure'} {det.score:.2f}"
    if det.box:
        x0, y0, x1, y1 = det.box
        p0, p1 = (round(x0 * w), round(y0 * h)), (round(x1 * w), round(y1 * h))
        cv2.rectangle(img, p0, p1, (0, 0, 255), thick)
        org = (p0[0], max(20, p0[1] - 8))
    else:
        org = (10, 30)
    cv2.putText(img, label, org, cv2.FONT_HERSHEY_SIMPLEX, max(0.6, w / 1000), (0, 0, 255), thick)


def _fields(cfg: DetectorConfig) -> dict[str, Any]:
    return {name: getattr(cfg, name) for name in cfg.__dataclass_fields__}


class CvService:
    """All camera monitors of the add-on, driven by the printer link's job events."""

    def __init__(self, monitors: list[CameraMonitor], printers: PrinterLink) -> None:
        """Monitors keyed by printer; call `start()` to subscribe to job events."""
        self.monitors = monitors
        self._printers = printers
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        """Subscribe to job events (call from the running loop)."""
        if self._unsubscribe is None:
            self._unsubscribe = self._printers.add_job_listener(self.on_job_event)

    def on_job_event(self, printer_id: str, event: JobEvent) -> None:
        """Route a printer's job event to its camera(s)."""
        for mon in self.monitors:
            if mon.spec.printer_id == printer_id:
                mon.on_job_event(event)

    def get(self, camera_id: str) -> CameraMonitor | None:
        """The monitor of a camera."""
        return next((m for m in self.monitors if m.spec.camera_id == camera_id), None)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per camera: state, reason, score, counters, printer."""
        return {
            m.spec.camera_id: {
                **m.status.as_dict(),
                "printer_id": m.spec.printer_id,
                "source": m.spec.source.description,
            }
            for m in self.monitors
        }

    async def stop(self) -> None:
        """Unsubscribe and stop every monitor and source."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for mon in self.monitors:
            await mon.stop()
            await mon.spec.source.close()
