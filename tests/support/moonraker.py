"""A real Moonraker 0.11.0 on a free loopback port, in front of the Klipper stub (klipper_stub.py).

Runs from `.venv-moonraker` (scripts/setup; Python 3.12/3.11; needs Debian's libsodium23). Every
request needs the API key (no trusted clients), which is read over Moonraker's own unix socket
(`access.get_api_key`). `stop_klipper()` / `start_klipper()` make Moonraker see Klipper go and
come back. Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
import socket
import subprocess
import sys
import time
from typing import Any

from .mosquitto import free_port
from .peer_process import PeerProcess, stop

ROOT = Path(__file__).resolve().parents[2]
VERSION = "0.11.0"


def moonraker_bin() -> str:
    """The `moonraker` console script of the Moonraker venv."""
    venv = Path(os.environ.get("JARVIS_MOONRAKER_VENV", ROOT / ".venv-moonraker"))
    exe = venv / "bin" / "moonraker"
    if not exe.exists():
        raise FileNotFoundError(f"{exe} missing: run scripts/setup")
    return str(exe)


class Moonraker(PeerProcess):
    """Moonraker + the Klipper stub; `api_key` is read after start."""

    def __init__(
        self, workdir: Path, *, port: int | None = None, print_seconds: float = 20.0
    ) -> None:
        # Unix socket paths are limited to ~107 bytes: keep the data dir short.
        self.workdir = Path(workdir)
        self.data = self.workdir / "mr"
        for sub in ("config", "comms", "gcodes", "logs", "database"):
            (self.data / sub).mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.klippy_sock = self.data / "comms" / "klippy.sock"
        self.calls_path = self.workdir / "klipper_calls.jsonl"
        self.print_seconds = print_seconds
        self.api_key = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.klipper: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "moonraker.log"
        (self.data / "config" / "moonraker.conf").write_text(
            "\n".join(
                [
                    "[server]",
                    "host: 127.0.0.1",
                    f"port: {self.port}",
                    f"klippy_uds_address: {self.klippy_sock}",
                    "",
                    "[authorization]",
                    "force_logins: False",
                    "cors_domains:",
                    "  http://127.0.0.1",
                    "",
                    "[file_manager]",
                    "enable_object_processing: False",
                    "",
                ]
            )
        )

    def start_klipper(self) -> None:
        if self.klipper is not None and self.klipper.poll() is None:
            return
        with self.log_path.open("ab") as log:
            self.klipper = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.klipper_stub",
                    "--socket",
                    str(self.klippy_sock),
                    "--calls",
                    str(self.calls_path),
                    "--gcodes-dir",
                    str(self.data / "gcodes"),
                    "--print-seconds",
                    str(self.print_seconds),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while not self.klippy_sock.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("Klipper stub did not create its socket")
            time.sleep(0.05)

    def stop_klipper(self) -> None:
        proc, self.klipper = self.klipper, None
        stop(proc)
        self.klippy_sock.unlink(missing_ok=True)

    def start(self, timeout: float = 30.0) -> Moonraker:
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()  # never leave Moonraker or the stub behind
            raise

    def _start(self, timeout: float) -> Moonraker:
        self.start_klipper()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [moonraker_bin(), "-d", str(self.data), "-n"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"Moonraker exited {self.proc.returncode}:\n{self.log()[-3000:]}"
                )
            with contextlib.suppress(OSError, ValueError, KeyError, TimeoutError):
                if not self.api_key:
                    self.api_key = self._read_api_key()
                status, body = self.request("GET", "/server/info")
                if status == 200 and body["result"]["klippy_state"] == "ready":
                    return self
            if time.monotonic() > deadline:
                raise TimeoutError(f"Moonraker not ready after {timeout}s:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def _read_api_key(self) -> str:
        """In a child process: pytest-socket (phcc) blocks unix sockets in the test process."""
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.support.moonraker",
                str(self.data / "comms" / "moonraker.sock"),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
            check=False,
        )
        if out.returncode != 0:
            raise OSError(out.stderr.strip()[-300:])
        return out.stdout.strip()

    def print_stats(self) -> dict[str, Any]:
        status, body = self.request("GET", "/printer/objects/query?print_stats&virtual_sdcard")
        assert status == 200, (status, body)
        return dict(body["result"]["status"])

    def wait_print_state(self, state: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(AssertionError):
                last = self.print_stats()
                if last["print_stats"]["state"] == state:
                    return last
            time.sleep(0.1)
        raise TimeoutError(f"print_stats.state never {state} within {timeout}s: {last}")

    def klipper_calls(self) -> list[str]:
        """Every G-code script the Klipper stub received, in order."""
        if not self.calls_path.exists():
            return []
        return [json.loads(line)["script"] for line in self.calls_path.read_text().splitlines()]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop(proc)
        self.stop_klipper()

    def __enter__(self) -> Moonraker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rpc_unix(path: str, method: str, params: dict[str, Any] | None = None) -> Any:
    """One JSON-RPC call over Moonraker's own unix socket (no auth there)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        request = {"jsonrpc": "2.0", "method": method, "params": params or {}, "id": 1}
        sock.sendall(json.dumps(request).encode() + b"\x03")
        buf = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("moonraker closed the unix socket")
            buf += chunk
            while b"\x03" in buf:
                raw, buf = buf.split(b"\x03", 1)
                msg = json.loads(raw)
                if msg.get("id") == 1:
                    return msg["result"]


if __name__ == "__main__":  # python -m tests.support.moonraker SOCKET -> prints the API key
    sys.stdout.write(f"{rpc_unix(sys.argv[1], 'access.get_api_key')}\n")
