"""What the printer peers (OctoPrint, Moonraker) share: a JSON API call with a key, a log, a stop."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
import signal
import subprocess
from typing import Any
import urllib.error
import urllib.request


class PeerProcess:
    """A peer server we started; subclasses set url, api_key, log_path and proc."""

    url: str
    api_key: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def request(
        self, method: str, path: str, body: Any = None, *, api_key: str | None = None
    ) -> tuple[int, Any]:
        """One API call with the admin key -> (status, JSON, text or None)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - loopback
            self.url + path,
            data=data,
            method=method,
            headers={"X-Api-Key": api_key or self.api_key, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def stop_process(self) -> None:
        """SIGTERM by PID, then SIGKILL if it lingers."""
        proc, self.proc = self.proc, None
        stop(proc)


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop a process we started, by its PID."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
