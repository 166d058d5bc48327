"""The add-on worker as a real process (`python -m jarvis_addon`), for integration and e2e tests.

Standard library only. The worker runs from the add-on's own venv, as it runs in its own
container in production.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
import signal
import subprocess
import time
import urllib.error
import urllib.request

from .mosquitto import free_port

ROOT = Path(__file__).resolve().parents[2]


def addon_python() -> str:
    """The add-on venv's interpreter (scripts/setup makes it)."""
    venv = Path(os.environ.get("JARVIS_ADDON_VENV", ROOT / ".venv-addon"))
    python = venv / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(f"{python} missing: run scripts/setup")
    return str(python)


class Worker:
    """One add-on worker process on a free loopback port."""

    def __init__(
        self,
        workdir: Path,
        *,
        mqtt_port: int,
        api_token: str = "test-token-0123456789",
        keepalive: int = 2,
        port: int | None = None,
        llm: bool = False,
        options: dict[str, object] | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_token = api_token
        self.keepalive = keepalive
        self.options_path = self.workdir / "options.json"
        self.options_path.write_text(
            json.dumps(
                {
                    "log_level": "info",
                    "api_token": api_token,
                    "mqtt_host": "127.0.0.1",
                    "mqtt_port": mqtt_port,
                    # The bundled model costs ~0.5 s and ~235 MB per worker: only where a test needs it.
                    "llm_enabled": llm,
                    **(options or {}),
                }
            )
        )
        self.log_path = self.workdir / "worker.log"
        self.extra_args = args or []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Worker:
        env = {
            k: v for k, v in os.environ.items() if k not in ("SUPERVISOR_TOKEN", "SUPERVISOR_URL")
        }
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    addon_python(),
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
                    "--mqtt-keepalive",
                    str(self.keepalive),
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.wait_healthy(timeout)
        return self

    def health(self) -> dict[str, object]:
        return self.get_json("/api/v1/health")

    def get_json(self, path: str) -> dict[str, object]:
        """GET one of the worker's API paths with its token (blocking: run it in an executor)."""
        req = urllib.request.Request(  # noqa: S310 - loopback http
            f"{self.url}{path}", headers={"Authorization": f"Bearer {self.api_token}"}
        )
        # Generous: while the bundled model loads on a busy CI core, the worker answers slowly.
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return dict(json.load(resp))

    def wait_healthy(self, timeout: float = 20.0, *, mqtt: bool = True) -> dict[str, object]:
        """Poll health until it answers (and, by default, reports MQTT connected)."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            try:
                last = self.health()
                if not mqtt or last["mqtt"]["connected"]:  # type: ignore[index]
                    return last  # type: ignore[return-value]
            except (OSError, urllib.error.URLError, ValueError) as err:
                last = err
            time.sleep(0.1)
        raise TimeoutError(f"worker not healthy after {timeout}s (last: {last}):\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: the broker must publish the last will."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM, the graceful path."""
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
