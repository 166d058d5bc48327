"""The add-on worker as a real subprocess: `python -m jarvis_addon ...` on a free loopback port."""

from __future__ import annotations

from collections.abc import Callable, Mapping
import contextlib
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.request

from tests.support.mosquitto import Mosquitto, free_port

HealthCheck = Callable[[dict[str, Any]], bool]


def broker_options(broker: Mosquitto, **extra: Any) -> dict[str, Any]:
    """Options that point the worker at a test broker; the local model is off unless asked for."""
    return {
        "log_level": "info",
        "mqtt_host": broker.host,
        "mqtt_port": broker.port,
        "llm_enabled": False,
        **extra,
    }


class WorkerError(AssertionError):
    """The worker did not get where the test expected; carries its log."""


class Worker:
    """One worker process; `close()` (the fixture calls it) always kills it by PID."""

    def __init__(
        self,
        workdir: Path,
        options: Mapping[str, Any] | str | None,
        *,
        env: Mapping[str, str] | None = None,
        args: list[str] | None = None,
        data_dir: Path | None = None,
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.options_path = workdir / "options.json"
        if options is None:
            self.options_path.unlink(missing_ok=True)
        else:
            self.options_path.write_text(
                options if isinstance(options, str) else json.dumps(dict(options))
            )
        self.data_dir = data_dir or workdir / "data"
        self.port = port or free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SUPERVISOR_")}
        self.env.update({"PYTHONUNBUFFERED": "1", **(env or {})})
        self.args = (
            args if args is not None else ["--mqtt-keepalive", "5", "--mqtt-reconnect-max", "1"]
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.log_path = workdir / "worker.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def token(self) -> str:
        """The generated token from the data directory."""
        return (self.data_dir / "api_token").read_text().strip()

    def start(self) -> Worker:
        """(Re)start; each run appends to the same log, so `log` covers every run."""
        assert self.proc is None or self.proc.poll() is not None, "worker still running"
        self.runs += 1
        argv = [
            sys.executable,
            "-m",
            "jarvis_addon",
            "--options",
            str(self.options_path),
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.args,
        ]
        with self.log_path.open("ab") as log:
            log.write(f"--- run {self.runs}: {' '.join(argv[1:])}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=log, env=self.env, start_new_session=True
            )
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def request(
        self, path: str, token: str | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any]:
        """GET path -> (status, decoded JSON or raw text)."""
        req = urllib.request.Request(self.url + path, headers=dict(headers or {}))  # noqa: S310 - loopback http
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback test URL
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def wait_health(
        self, check: HealthCheck = lambda _h: True, timeout: float = 15.0
    ) -> dict[str, Any]:
        """Poll /api/v1/health until it answers 200 and check(health) holds."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise WorkerError(
                    f"worker exited with {self.proc.returncode if self.proc else None}; log:\n{self.log}"
                )
            try:
                status, body = self.request("/api/v1/health")
            except OSError as err:  # not listening yet
                last = err
            else:
                last = body
                if status == 200 and isinstance(body, dict) and check(body):
                    return body
            time.sleep(0.05)
        raise WorkerError(
            f"health never satisfied the check within {timeout}s (last: {last}); log:\n{self.log}"
        )

    def wait_log(self, text: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log:
                return
            time.sleep(0.05)
        raise WorkerError(f"{text!r} not logged within {timeout}s; log:\n{self.log}")

    def send(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 15.0) -> int:
        """Exit code; WorkerError if it is still running after timeout."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise WorkerError(f"worker still running after {timeout}s; log:\n{self.log}") from None

    def run_to_exit(self, timeout: float = 15.0) -> tuple[int, str]:
        """Start and wait for a worker that is expected to exit by itself (bad input)."""
        self.start()
        return self.wait(timeout), self.log

    def close(self) -> None:
        """Kill by PID if still running and reap it: no process outlives its test."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
