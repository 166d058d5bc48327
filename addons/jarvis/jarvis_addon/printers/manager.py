"""PrinterManager: the configured printers, their live state, the jobs Jarvis runs on them.

Glue between the clients (octoprint.py, moonraker.py), the pure job core (jobs.py) and whatever
publishes (the MQTT bridge): it polls every printer, follows its push channel for faster updates,
runs print jobs (preheat -> upload -> start), and executes commands. Other add-on code (the CV
monitor) pauses a print with `await manager.async_pause(printer_id, reason)`.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
import logging
from pathlib import Path
from typing import Any, Final, Protocol

import aiohttp

from ..settings import PrinterConfig
from .base import STATE_UNREACHABLE, Printer, PrinterError, PrinterStatus, check_gcode
from .jobs import JOB_FAILED, JOB_PAUSED, JOB_PRINTING, JOB_UPLOADING, Job, JobHistory
from .moonraker import MoonrakerClient
from .octoprint import OctoPrintClient

_LOGGER = logging.getLogger(__name__)

WATCH_RETRY_MIN: Final = 2.0
WATCH_RETRY_MAX: Final = 30.0
MAX_FILE_BYTES: Final = 64 * 1024 * 1024
SNAPSHOT_TIMEOUT: Final = 10.0
MAX_TOOL_C: Final = 300.0
MAX_BED_C: Final = 150.0
COMMANDS: Final = (
    "status",
    "print_file",
    "pause",
    "resume",
    "cancel",
    "preheat",
    "gcode",
    "connect",
    "history",
    "snapshot",
)


class CommandError(Exception):
    """A command that cannot run: `code` for machines, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        """Keep both."""
        super().__init__(message)
        self.code = code


class Sink(Protocol):
    """Where the manager's output goes (the MQTT bridge in the worker, a list in tests)."""

    async def printer_state(
        self, printer_id: str, payload: dict[str, Any], available: bool
    ) -> None:
        """The printer's state changed (retained)."""

    async def printer_event(self, printer_id: str, payload: dict[str, Any]) -> None:
        """A job event (job_started, job_paused, job_finished, ...), with its scene if configured."""

    async def printer_snapshot(self, printer_id: str, image: bytes) -> None:
        """A new webcam snapshot."""


@dataclass(slots=True)
class _Live:
    config: PrinterConfig
    client: Printer
    status: PrinterStatus
    changed: asyncio.Event
    payload: dict[str, Any] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Bumped when the printer acknowledges a start, pause, resume or cancel: a status read in
    # flight across it may predate it and is read again (see refresh).
    acked: int = 0


def make_client(config: PrinterConfig, session: aiohttp.ClientSession) -> Printer:
    """The client for a configured printer's type."""
    if config.type == "octoprint":
        return OctoPrintClient(session, config.url, config.api_key, serial_port=config.serial_port)
    return MoonrakerClient(session, config.url, config.api_key)


class PrinterManager:
    """Every configured printer; start() begins polling and watching, stop() ends it."""

    def __init__(
        self,
        configs: tuple[PrinterConfig, ...],
        session: aiohttp.ClientSession,
        sink: Sink,
        *,
        data_dir: Path | None,
        files_dir: Path,
        poll_interval: float = 5.0,
        client_factory: Callable[[PrinterConfig, aiohttp.ClientSession], Printer] = make_client,
    ) -> None:
        """Build one client per printer; nothing is contacted before start()."""
        self._session = session
        self._sink = sink
        self._files_dir = files_dir
        self._poll = poll_interval
        self.history = JobHistory(data_dir / "printers" / "jobs.json" if data_dir else None)
        self._printers: dict[str, _Live] = {
            c.id: _Live(
                config=c,
                client=client_factory(c, session),
                status=PrinterStatus(state=STATE_UNREACHABLE, message="not contacted yet"),
                changed=asyncio.Event(),
            )
            for c in configs
        }
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def printer_ids(self) -> list[str]:
        """Configured ids, in configuration order."""
        return list(self._printers)

    def config(self, printer_id: str) -> PrinterConfig:
        """A printer's configuration; CommandError unknown_device."""
        return self._live(printer_id).config

    def last_state(self, printer_id: str) -> dict[str, Any] | None:
        """The last published state payload (None before the first poll)."""
        return self._live(printer_id).payload

    def _live(self, printer_id: str) -> _Live:
        live = self._printers.get(printer_id)
        if live is None:
            known = ", ".join(self._printers) or "none configured"
            raise CommandError("unknown_device", f"no printer {printer_id!r} (printers: {known})")
        return live

    def start(self) -> None:
        """Begin polling and watching every printer."""
        for pid, live in self._printers.items():
            self._tasks.append(asyncio.create_task(self._monitor(pid), name=f"printer-{pid}-poll"))
            self._tasks.append(asyncio.create_task(self._watch(live), name=f"printer-{pid}-watch"))

    async def stop(self) -> None:
        """Cancel the loops, save the history."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for live in self._printers.values():
            await live.client.close()
        self.history.save()

    async def republish(self) -> None:
        """Send every printer's last state again (after an MQTT reconnect)."""
        for pid, live in self._printers.items():
            if live.payload is not None:
                await self._sink.printer_state(pid, live.payload, live.status.online)

    # --- state -----------------------------------------------------------------------------

    async def _monitor(self, printer_id: str) -> None:
        live = self._printers[printer_id]
        if live.config.serial_port:
            with contextlib.suppress(PrinterError):
                await live.client.connect()
        while True:
            try:
                await self.refresh(printer_id)
            except Exception:  # a bug must not stop the printer's updates
                _LOGGER.exception("Printer %s: refresh failed", printer_id)
            live.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(live.changed.wait(), self._poll)

    async def _watch(self, live: _Live) -> None:
        delay = WATCH_RETRY_MIN
        while True:
            try:
                await live.client.watch(live.changed.set)
            except PrinterError as err:
                _LOGGER.debug("Printer %s push channel: %s", live.config.id, err)
            except Exception:  # a bug in a push channel: polling still runs
                _LOGGER.exception("Printer %s push channel failed", live.config.id)
            else:
                delay = WATCH_RETRY_MIN
            live.changed.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, WATCH_RETRY_MAX)

    async def refresh(self, printer_id: str) -> dict[str, Any]:
        """Ask the printer now; update its job, publish what changed; returns the state payload."""
        live = self._live(printer_id)
        while True:
            acked = live.acked
            status = await self._read(live)
            if live.acked == acked:
                break
            # A command was acknowledged while this read was in flight: the answer may be from
            # before it (a "printing" read before a pause would resume the paused job).
            _LOGGER.debug("Printer %s: status read across a command; reading again", printer_id)
        if status.online != live.status.online:
            _LOGGER.info(
                "Printer %s is now %s (%s)", printer_id, status.state, status.message or "-"
            )
        live.status = status
        job = self.history.active_for(printer_id)
        if job is not None and (event := job.observe(status)):
            self.history.save()
            await self._job_event(job, event)
        payload = self._payload(live, job)
        if payload != live.payload:
            live.payload = payload
            await self._sink.printer_state(printer_id, payload, status.online)
        return payload

    @staticmethod
    async def _read(live: _Live) -> PrinterStatus:
        try:
            return await live.client.status()
        except PrinterError as err:
            return PrinterStatus(state=STATE_UNREACHABLE, message=str(err))

    def _payload(self, live: _Live, job: Job | None) -> dict[str, Any]:
        status = live.status
        return {
            "printer_id": live.config.id,
            "name": live.config.name,
            "type": live.config.type,
            "available": status.online,
            **status.as_dict(),
            "eta": job.as_dict()["eta"] if job else _eta(status),
            "job": job.as_dict() if job and job.active else None,
        }

    async def _job_event(self, job: Job, event: str) -> None:
        config = self._printers[job.printer_id].config
        scene = {
            "job_started": config.scene_start,
            "job_finished": config.scene_finish,
            "job_failed": config.scene_failure,
        }.get(event)
        _LOGGER.info("Printer %s: %s (job %s, %s)", job.printer_id, event, job.id, job.filename)
        payload: dict[str, Any] = {
            "event": event,
            "printer_id": job.printer_id,
            "job": job.as_dict(),
        }
        if scene:
            payload["scene"] = scene
        await self._sink.printer_event(job.printer_id, payload)

    # --- commands --------------------------------------------------------------------------

    async def execute(self, printer_id: str, command: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one command; returns its result; raises CommandError (printer errors mapped)."""
        live = self._live(printer_id)
        handler = getattr(self, f"_cmd_{command}", None) if command in COMMANDS else None
        if handler is None:
            raise CommandError(
                "unknown_command", f"unknown command {command!r}; commands: {', '.join(COMMANDS)}"
            )
        try:
            # One command at a time per printer: pause while an upload is starting must wait.
            async with live.lock:
                result: dict[str, Any] = await handler(live, args)
                return result
        except PrinterError as err:
            raise CommandError(err.code, str(err)) from err

    async def async_pause(self, printer_id: str, reason: str) -> dict[str, Any]:
        """Pause a printer's print (for other code, e.g. the CV monitor); CommandError if it can't."""
        return await self.execute(printer_id, "pause", {"reason": reason})

    async def _cmd_status(self, live: _Live, args: dict[str, Any]) -> dict[str, Any]:
        return await self.refresh(live.config.id)

    async def _cmd_print_file(self, live: _Live, args: dict[str, Any]) -> dict[str, Any]:
        pid = live.config.id
        filename, data = self._file_from_args(args)
        if problem := check_gcode(filename, data):
            raise CommandError("not_gcode", problem)
        tool, bed = _temperatures(args.get("preheat") or {}, "preheat.")
        if (running := self.history.active_for(pid)) is not None:
            raise CommandError(
                "printer_busy",
                f"printer {pid} is running job {running.id} ({running.filename}); cancel it first",
            )
        status = await live.client.status()
        if not status.online:
            raise CommandError(
                "printer_offline", f"printer {pid} is {status.state}: {status.message}"
            )
        if status.state != "idle":
            raise CommandError("printer_busy", f"printer {pid} is {status.state}, not idle")
        job = Job(printer_id=pid, filename=filename)
        self.history.add(job)
        try:
            if tool is not None or bed is not None:
                await live.client.preheat(tool, bed)
            job.to(JOB_UPLOADING)
            stored = await live.client.upload(filename, data)
            await live.client.start(stored)
            live.acked += 1
        except PrinterError as err:
            job.to(JOB_FAILED, str(err))
            self.history.save()
            await self._job_event(job, "job_failed")
            raise
        job.to(JOB_PRINTING)
        self.history.save()
        await self._job_event(job, "job_started")
        live.changed.set()
        return {"job_id": job.id, "filename": stored, "job": job.as_dict()}

    def _file_from_args(self, args: dict[str, Any]) -> tuple[str, bytes]:
        has_gcode, has_path = "gcode" in args, "path" in args
        if has_gcode == has_path:
            raise CommandError(
                "invalid_args", "print_file needs exactly one of gcode (the file's text) or path"
            )
        if has_gcode:
            filename, gcode = args.get("filename"), args["gcode"]
            if not isinstance(filename, str) or not filename:
                raise CommandError(
                    "invalid_args", "filename (e.g. bracket.gcode) is required with gcode"
                )
            if isinstance(gcode, str):
                return filename, gcode.encode()
            if isinstance(gcode, dict) and isinstance(gcode.get("base64"), str):
                try:
                    return filename, base64.b64decode(gcode["base64"], validate=True)
                except ValueError:
                    raise CommandError("invalid_args", "gcode.base64 is not valid base64") from None
            raise CommandError("invalid_args", 'gcode must be text or {"base64": ...}')
        path = args["path"]
        if not isinstance(path, str) or not path:
            raise CommandError("invalid_args", "path must be a file name in the print files folder")
        root = self._files_dir.resolve()
        target = (root / path).resolve()
        if root not in target.parents:
            raise CommandError("invalid_args", f"path {path!r} is outside the print files folder")
        try:
            if target.stat().st_size > MAX_FILE_BYTES:
                raise CommandError(
                    "file_too_large", f"{path} is larger than {MAX_FILE_BYTES} bytes"
                )
            data = target.read_bytes()
        except FileNotFoundError:
            raise CommandError("file_not_found", f"no file {path!r} in {root}") from None
        except OSError as err:
            raise CommandError("file_not_found", f"cannot read {path!r}: {err.strerror}") from None
        name = str(args.get("filename") or target.name)
        return name, data

    async def _cmd_pause(self, live: _Live, args: dict[str, Any]) -> dict[str, Any]:
        reason = str(args.get("reason") or "requested")
        await live.client.pause()
        live.acked += 1
        job = self.history.active_for(live.config.id)
        if job is not None:
            job.pause_requested(reason)
            if (event := job.to(JOB_PAUSED)) is not None:
                await self._job_event(job, event)
            self.history.save()
        live.changed.set()
        return {"paused": True, "reason": reason, "job_id": job.id if job else None}

    async def _cmd_resume(self, live: _Live, args: dict[str, Any]) -> dict[str, Any]:
        await live.client.resume()
        live.acked += 1
        job = self.history.active_for(live.config.id)
        if job is not None and (event := job.to(JOB_PRINTING)) is not None:
            self.history.save()
            await self._job_event(job, event)
        live.changed.set()
        return {"resumed": True, "job_id": job.id if job else None}

    async def _cmd_cancel(self, live: _Live, args: dict[str, Any]) -> dict[str, Any]:
        job = self.history.active_for(live.config.id)
        await live.client.cancel()
        live.acked += 1
        if job is not None:
            job.cancel_requested = True
            self.history.save()
        live.changed.set()
        return {"cancelled": True, "job_id": job.id if job else None}

    async def _cmd_preheat(self, live: _Live, args: dict[str, Any]) -> dict[str, Any]:
        tool, bed = _temperatures(args, "")
        if tool is None and bed is None:
            raise CommandError("invalid_args", "preheat needs tool and/or bed (°C)")
        await live.client.preheat(tool, bed)
        live.changed.set()
        return {"tool": tool, "bed": bed}

    async def _cmd_gcode(self, live: _Live, args: dict[str, Any]) -> dict[str, Any]:
        commands = args.get("commands")
        if isinstance(commands, str):
            commands = [line for line in commands.splitlines() if line.strip()]
        if (
            not isinstance(commands, list)
            or not commands
            or not all(isinstance(c, str) and c.strip() for c in commands)
        ):
            raise CommandError("invalid_args", "commands must be G-code lines (a list of strings)")
        await live.client.gcode(commands)
        return {"sent": len(commands)}

    async def _cmd_connect(self, live: _Live, args: dict[str, Any]) -> dict[str, Any]:
        await live.client.connect()
        live.changed.set()
        return {"connecting": True}

    async def _cmd_history(self, live: _Live, args: dict[str, Any]) -> dict[str, Any]:
        limit = args.get("limit", 20)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
            raise CommandError("invalid_args", "limit must be an integer 1-200")
        return {"jobs": [j.as_dict() for j in self.history.recent(live.config.id, limit)]}

    async def _cmd_snapshot(self, live: _Live, args: dict[str, Any]) -> dict[str, Any]:
        image = await self.snapshot(live.config.id)
        await self._sink.printer_snapshot(live.config.id, image)
        return {"bytes": len(image)}

    async def snapshot(self, printer_id: str) -> bytes:
        """The webcam's current image (configured snapshot_url, else what the backend advertises)."""
        live = self._live(printer_id)
        url = live.config.snapshot_url or await live.client.snapshot_url()
        if not url:
            raise CommandError("no_webcam", f"printer {printer_id} has no webcam snapshot URL")
        try:
            async with self._session.get(
                url, timeout=aiohttp.ClientTimeout(total=SNAPSHOT_TIMEOUT)
            ) as resp:
                if resp.status != 200:
                    raise CommandError("webcam_failed", f"snapshot {url} answered {resp.status}")
                return await resp.read()
        except (TimeoutError, aiohttp.ClientError) as err:
            raise CommandError(
                "webcam_failed", f"snapshot {url} failed: {err or 'timeout'}"
            ) from None


def _temperatures(args: Any, prefix: str) -> tuple[float | None, float | None]:
    if not isinstance(args, dict):
        raise CommandError(
            "invalid_args", f"{prefix or 'preheat'} must be an object with tool and/or bed"
        )
    out: list[float | None] = []
    for key, limit in (("tool", MAX_TOOL_C), ("bed", MAX_BED_C)):
        value = args.get(key)
        if value is None:
            out.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= limit:
            raise CommandError(
                "invalid_args", f"{prefix}{key} must be a temperature 0-{limit:g} °C"
            )
        out.append(float(value))
    return out[0], out[1]


def _eta(status: PrinterStatus) -> str | None:
    if status.state != "printing" or status.time_left_s is None:
        return None
    when = datetime.now(UTC).timestamp() + status.time_left_s
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
