"""A real OctoPrint 1.11.8 with its Virtual Printer on a free loopback port (tests, dev).

Runs from `.venv-octoprint` (scripts/setup makes it; Python 3.12/3.11). A temp basedir gets a
config.yaml with the first-run wizard off, noisy plugins off, fast Virtual Printer settings and a
global API key (`api.key`, deprecated in OctoPrint but fine for 1.11 tests). Standard library only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
from pathlib import Path
import secrets
import subprocess
import time
from typing import Any

from .mosquitto import free_port
from .peer_process import PeerProcess

ROOT = Path(__file__).resolve().parents[2]
VERSION = "1.11.8"


def octoprint_bin() -> str:
    """The `octoprint` console script of the OctoPrint venv."""
    venv = Path(os.environ.get("JARVIS_OCTOPRINT_VENV", ROOT / ".venv-octoprint"))
    exe = venv / "bin" / "octoprint"
    if not exe.exists():
        raise FileNotFoundError(f"{exe} missing: run scripts/setup")
    return str(exe)


def _yaml(value: Any, indent: int = 0) -> str:
    """Minimal YAML writer (JSON is valid YAML for scalars and flow collections)."""
    pad = "  " * indent
    lines = []
    for key, item in value.items():
        if isinstance(item, dict) and item:
            lines.append(f"{pad}{key}:")
            lines.append(_yaml(item, indent + 1))
        else:
            lines.append(f"{pad}{key}: {json.dumps(item)}")
    return "\n".join(lines)


class OctoPrint(PeerProcess):
    """One OctoPrint server; `api_key` is admin. `start()` waits until /api/version answers."""

    def __init__(self, workdir: Path, *, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.basedir = self.workdir / "basedir"
        self.basedir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = secrets.token_hex(16).upper()
        self.log_path = self.workdir / "octoprint.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._write_config()

    def _write_config(self) -> None:
        disabled = [
            "announcements",
            "tracking",
            "softwareupdate",
            "errortracking",
            "discovery",
            "pi_support",
            "firmware_check",
            "pluginmanager",
            "health_check",
            "backup",
            "achievements",
        ]
        config = {
            "api": {"key": self.api_key, "allowCrossOrigin": False},
            "server": {
                "firstRun": False,
                "onlineCheck": {"enabled": False},
                "pluginBlacklist": {"enabled": False},
                "seenWizards": {"corewizard": 4},
            },
            "tracking": {"enabled": False},
            "plugins": {
                "_disabled": disabled,
                "virtual_printer": {
                    "enabled": True,
                    "throttle": 0.001,
                    "waitInterval": 1.0,
                    "okAfterResend": False,
                },
            },
            "serial": {"autoconnect": False, "additionalPorts": []},
            "webcam": {"webcamEnabled": False, "timelapseEnabled": False},
        }
        (self.basedir / "config.yaml").write_text(_yaml(config) + "\n")

    def start(self, timeout: float = 60.0) -> OctoPrint:
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()  # never leave OctoPrint behind
            raise

    def _start(self, timeout: float) -> OctoPrint:
        argv = [
            octoprint_bin(),
            "serve",
            "--basedir",
            str(self.basedir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if os.geteuid() == 0:
            argv.append("--iknowwhatimdoing")  # OctoPrint refuses root otherwise
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"OctoPrint exited {self.proc.returncode}:\n{self.log()[-3000:]}"
                )
            with contextlib.suppress(OSError, ValueError, http.client.HTTPException):
                status, _ = self.request("GET", "/api/version")
                if status == 200:
                    return self
            if time.monotonic() > deadline:
                raise TimeoutError(f"OctoPrint not up after {timeout}s:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def connect_virtual(self, timeout: float = 10.0) -> None:
        """Connect to the Virtual Printer and wait for Operational."""
        status, body = self.request(
            "POST",
            "/api/connection",
            {
                "command": "connect",
                "port": "VIRTUAL",
                "baudrate": 115200,
                "save": False,
                "autoconnect": False,
            },
        )
        assert status == 204, (status, body)
        self.wait_state(lambda s: s == "Operational", timeout)

    def disconnect(self) -> None:
        self.request("POST", "/api/connection", {"command": "disconnect"})
        self.wait_state(lambda s: s in ("Closed", "Offline"), 10)

    def job(self) -> dict[str, Any]:
        status, body = self.request("GET", "/api/job")
        assert status == 200, (status, body)
        return dict(body)

    def wait_state(self, check: Any, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = self.job()
            if check(job.get("state")):
                return job
            time.sleep(0.1)
        raise TimeoutError(f"OctoPrint state never matched within {timeout}s: {job}")

    def files(self) -> list[str]:
        status, body = self.request("GET", "/api/files/local")
        assert status == 200, (status, body)
        return [f["name"] for f in body.get("files", [])]

    def stop(self) -> None:
        self.stop_process()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> OctoPrint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def gcode_file(layers: int = 40, dwell_ms: int = 100) -> str:
    """A small valid G-code print whose G4 dwells really sleep on the Virtual Printer."""
    lines = ["; Jarvis test print", "G28", "G90", "M82", "G92 E0"]
    for layer in range(layers):
        z = 0.2 * (layer + 1)
        lines += [
            f"G1 Z{z:.2f} F600",
            f"G1 X{10 + layer} Y10 E{layer + 1} F1200",
            f"G4 P{dwell_ms}",
        ]
    lines += ["M104 S0", "M140 S0", "M84", ""]
    return "\n".join(lines)
