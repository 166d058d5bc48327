"""A test stub of Klipper's API server (the unix socket Moonraker talks to), run as a process.

    python -m tests.support.klipper_stub --socket PATH --calls FILE [--print-seconds S]

Framing: JSON objects terminated by 0x03; requests {id, method, params}, replies {id, result} or
{id, error}. It holds the objects Moonraker needs (webhooks, print_stats, virtual_sdcard,
pause_resume, display_status, extruder, heater_bed, ...), simulates a print that progresses over
--print-seconds, heaters that move toward their targets, and pushes changed objects to the
subscriber with its response_template. Every gcode/script it receives is appended to --calls
(one JSON line each), so tests can count what really reached "Klipper". Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
from pathlib import Path
import signal
import time
from typing import Any

ETX = b"\x03"
ENDPOINTS = [
    "info",
    "list_endpoints",
    "objects/list",
    "objects/query",
    "objects/subscribe",
    "gcode/script",
    "gcode/help",
    "gcode/subscribe_output",
    "register_remote_method",
    "pause_resume/pause",
    "pause_resume/resume",
    "pause_resume/cancel",
    "emergency_stop",
]


class Klipper:
    """The printer's objects and the print simulation."""

    def __init__(self, calls: Path, print_seconds: float, gcodes_dir: str) -> None:
        self.calls = calls
        self.print_seconds = print_seconds
        self.objects: dict[str, dict[str, Any]] = {
            "webhooks": {"state": "ready", "state_message": "Printer is ready"},
            "print_stats": {
                "state": "standby",
                "filename": "",
                "print_duration": 0.0,
                "total_duration": 0.0,
                "message": "",
            },
            "pause_resume": {"is_paused": False},
            "virtual_sdcard": {"progress": 0.0, "is_active": False, "file_path": None},
            "display_status": {"progress": 0.0, "message": None},
            "idle_timeout": {"state": "Idle", "printing_time": 0.0},
            "extruder": {"temperature": 22.0, "target": 0.0},
            "heater_bed": {"temperature": 22.0, "target": 0.0},
            "toolhead": {"position": [0, 0, 0, 0], "homed_axes": ""},
            "configfile": {
                "config": {"virtual_sdcard": {"path": gcodes_dir}, "pause_resume": {}},
                "settings": {"virtual_sdcard": {"path": gcodes_dir}},
            },
        }
        self.subscriber: tuple[asyncio.StreamWriter, dict[str, Any], dict[str, Any]] | None = None
        self._last_tick = time.monotonic()

    def record(self, script: str) -> None:
        with self.calls.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"t": time.time(), "script": script}) + "\n")

    def set(self, name: str, **values: Any) -> None:
        self.objects[name].update(values)

    def tick(self) -> None:
        """Advance time: heaters, print progress."""
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        for heater in ("extruder", "heater_bed"):
            obj = self.objects[heater]
            goal = obj["target"] or 22.0
            obj["temperature"] = round(
                obj["temperature"] + (goal - obj["temperature"]) * min(1.0, dt * 2), 2
            )
        stats = self.objects["print_stats"]
        if stats["state"] == "printing":
            stats["print_duration"] = round(stats["print_duration"] + dt, 3)
            progress = min(1.0, stats["print_duration"] / self.print_seconds)
            self.set("virtual_sdcard", progress=round(progress, 4))
            self.set("display_status", progress=round(progress, 4))
            if progress >= 1.0:
                stats["state"] = "complete"
                self.set("virtual_sdcard", is_active=False)

    def gcode(self, script: str) -> None:
        self.record(script)
        for line in script.splitlines():
            words = line.strip().split()
            if not words:
                continue
            cmd = words[0].upper()
            params = {
                w.split("=", 1)[0].upper(): w.split("=", 1)[1].strip('"')
                for w in words[1:]
                if "=" in w
            }
            letters = {w[0].upper(): w[1:] for w in words[1:] if "=" not in w and w}
            stats = self.objects["print_stats"]
            if cmd == "SDCARD_PRINT_FILE":
                if stats["state"] in ("printing", "paused"):
                    raise ValueError("SD busy")
                stats.update(
                    state="printing", filename=params.get("FILENAME", ""), print_duration=0.0
                )
                self.set("virtual_sdcard", progress=0.0, is_active=True)
            elif cmd == "PAUSE":
                if stats["state"] == "printing":
                    stats["state"] = "paused"
                    self.set("pause_resume", is_paused=True)
            elif cmd == "RESUME":
                if stats["state"] == "paused":
                    stats["state"] = "printing"
                    self.set("pause_resume", is_paused=False)
            elif cmd == "CANCEL_PRINT":
                if stats["state"] in ("printing", "paused"):
                    stats["state"] = "cancelled"
                    self.set("virtual_sdcard", is_active=False)
            elif cmd == "M104":
                self.set("extruder", target=float(letters.get("S", 0)))
            elif cmd == "M140":
                self.set("heater_bed", target=float(letters.get("S", 0)))
            elif cmd == "FIRMWARE_RESTART":
                self.set("webhooks", state="ready", state_message="Printer is ready")

    def status(self, query: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, fields in (query or {}).items():
            if name not in self.objects:
                continue  # unknown objects are silently omitted, as in Klipper
            obj = self.objects[name]
            out[name] = dict(obj) if not fields else {k: obj[k] for k in fields if k in obj}
        return out

    def handle(self, method: str, params: dict[str, Any], writer: asyncio.StreamWriter) -> Any:
        if method == "info":
            return {
                "state": self.objects["webhooks"]["state"],
                "state_message": self.objects["webhooks"]["state_message"],
                "hostname": "jarvis-test",
                "software_version": "v0.12.0-stub",
                "cpu_info": "test stub",
                "klipper_path": "/tmp/klipper",
                "python_path": "/usr/bin/python3",
                "log_file": "/tmp/klippy.log",
                "config_file": "/tmp/printer.cfg",
                "process_id": os.getpid(),
                "user_id": os.getuid(),
                "group_id": os.getgid(),
            }
        if method == "list_endpoints":
            return {"endpoints": ENDPOINTS}
        if method == "objects/list":
            return {"objects": list(self.objects)}
        if method == "objects/query":
            return {"eventtime": time.monotonic(), "status": self.status(params.get("objects"))}
        if method == "objects/subscribe":
            template = params.get("response_template") or {"method": "process_status_update"}
            self.subscriber = (writer, template, params.get("objects") or {})
            return {"eventtime": time.monotonic(), "status": self.status(params.get("objects"))}
        if method == "gcode/script":
            self.gcode(str(params.get("script", "")))
            return {}
        if method == "gcode/help":
            return {"PAUSE": "Pause", "RESUME": "Resume", "CANCEL_PRINT": "Cancel"}
        if method in ("gcode/subscribe_output", "register_remote_method"):
            return {}
        if method.startswith("pause_resume/"):
            self.gcode(
                {"pause": "PAUSE", "resume": "RESUME", "cancel": "CANCEL_PRINT"}[
                    method.split("/")[1]
                ]
            )
            return {}
        if method == "emergency_stop":
            self.record("M112")
            self.set("webhooks", state="shutdown", state_message="Emergency stop")
            return {}
        raise KeyError(method)


async def serve(sock: Path, klipper: Klipper) -> None:
    async def push_loop() -> None:
        last: dict[str, Any] = {}
        while True:
            await asyncio.sleep(0.25)
            klipper.tick()
            if klipper.subscriber is None:
                continue
            writer, template, objects = klipper.subscriber
            current = klipper.status(objects)
            changed = {
                name: {k: v for k, v in obj.items() if (last.get(name) or {}).get(k) != v}
                for name, obj in current.items()
            }
            changed = {k: v for k, v in changed.items() if v}
            last = json.loads(json.dumps(current))
            if changed and not writer.is_closing():
                msg = {**template, "params": {"eventtime": time.monotonic(), "status": changed}}
                writer.write(json.dumps(msg).encode() + ETX)
                with contextlib.suppress(ConnectionError):
                    await writer.drain()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                raw = await reader.readuntil(ETX)
                request = json.loads(raw[:-1])
                klipper.tick()
                reply: dict[str, Any] = {"id": request.get("id")}
                try:
                    reply["result"] = klipper.handle(
                        request.get("method", ""), request.get("params") or {}, writer
                    )
                except KeyError as err:
                    reply["error"] = {
                        "error": "WebRequestError",
                        "message": f"No handler for {err}",
                    }
                except ValueError as err:
                    reply["error"] = {"error": "WebRequestError", "message": str(err)}
                writer.write(json.dumps(reply).encode() + ETX)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if klipper.subscriber and klipper.subscriber[0] is writer:
                klipper.subscriber = None
            writer.close()

    sock.unlink(missing_ok=True)
    server = await asyncio.start_unix_server(client, path=str(sock))
    pusher = asyncio.create_task(push_loop())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    pusher.cancel()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--calls", type=Path, required=True)
    parser.add_argument("--gcodes-dir", default="/tmp/gcodes")
    parser.add_argument("--print-seconds", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(serve(args.socket, Klipper(args.calls, args.print_seconds, args.gcodes_dir)))


if __name__ == "__main__":
    main()
