"""A real Mosquitto broker on a free loopback port, for tests and the dev instance.

Standard library only: both the Home Assistant venv and the add-on venv import it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import time


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on host right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def find_mosquitto() -> str:
    """Path of the mosquitto binary (Debian puts it in /usr/sbin, often not on PATH)."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise FileNotFoundError(
            "mosquitto is not installed: run scripts/setup (apt package 'mosquitto')"
        )
    return found


class Mosquitto:
    """One broker process: anonymous access, loopback only, persistence in workdir.

    Persistence keeps retained messages and QoS 1 sessions across restart(), which
    is what a broker outage looks like to clients.
    """

    def __init__(self, workdir: Path, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port(host)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "mosquitto.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _write_config(self) -> Path:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    f"listener {self.port} {self.host}",
                    "allow_anonymous true",
                    "persistence true",
                    f"persistence_location {self.workdir}/",
                    "autosave_interval 1",
                    f"log_dest file {self.log_path}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    # As root, Mosquitto drops to user `mosquitto`, which cannot write the
                    # private temp dir: the log and the persistence file (sessions!) would be lost.
                    *(["user root"] if os.geteuid() == 0 else []),
                    "",
                ]
            )
        )
        return conf

    def start(self, timeout: float = 10.0) -> Mosquitto:
        if self.proc and self.proc.poll() is None:
            return self
        conf = self._write_config()
        self.proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            wait_for_port(self.host, self.port, timeout)
        except TimeoutError:
            err = b""
            if self.proc.poll() is not None and self.proc.stderr:
                err = self.proc.stderr.read()
            self.stop()
            raise RuntimeError(f"mosquitto did not start: {err.decode(errors='replace')}") from None
        return self

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
        if proc.stderr:
            proc.stderr.close()

    def restart(self, down_for: float = 0.0) -> None:
        """Stop and start again on the same port (an outage of down_for seconds)."""
        self.stop()
        if down_for:
            time.sleep(down_for)
        self.start()

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
