"""Async client of the CAD worker process (`python -m jarvis_addon.cad.worker`).

Starts it lazily, sends one JSON line per request and reads one answer, one request at a time
(the worker forks per request, so a crash in model code never takes the worker down). A dead
worker is restarted on the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sys
from typing import Any, Final

from .errors import (
    CadError,
    GeometryInvalidError,
    InvalidRequestError,
    SandboxFailedError,
    SandboxKilledError,
    SandboxRejectedError,
    UnknownPartError,
)

_LOGGER = logging.getLogger(__name__)
START_TIMEOUT: Final = 60.0  # importing CadQuery takes 2-4 s; a cold disk much longer
_ERRORS: Final[dict[str, type[CadError]]] = {
    "invalid_request": InvalidRequestError,
    "unknown_part": UnknownPartError,
    "sandbox_rejected": SandboxRejectedError,
    "sandbox_killed": SandboxKilledError,
    "sandbox_failed": SandboxFailedError,
    "geometry_invalid": GeometryInvalidError,
}


class WorkerError(CadError):
    """The worker process itself failed (would not start, died, answered nonsense)."""

    code = "worker_error"


class CadWorker:
    """One worker process; `request()` is serialised."""

    def __init__(self, python: str | None = None) -> None:
        """Use this interpreter (default: ours) to run the worker."""
        self.python = python or sys.executable
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)

    async def _ensure(self) -> asyncio.subprocess.Process:
        if self._proc is not None and self._proc.returncode is None:
            return self._proc
        proc = await asyncio.create_subprocess_exec(
            self.python,
            "-m",
            "jarvis_addon.cad.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 24,
        )
        self._proc = proc
        if proc.stdout is None:  # pragma: no cover - PIPE was asked for
            raise WorkerError("the CAD worker has no stdout")
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            await self.stop()
            raise WorkerError(f"the CAD worker did not start within {START_TIMEOUT:g} s") from None
        if not line:
            await self.stop()
            raise WorkerError("the CAD worker exited at start (is CadQuery installed?)")
        return proc

    async def request(self, req: dict[str, Any], answer_within: float = 300.0) -> dict[str, Any]:
        """Send a request; return its `result` or raise the typed error it carries."""
        async with self._lock:
            proc = await self._ensure()
            if proc.stdin is None or proc.stdout is None:  # pragma: no cover - PIPE was asked for
                raise WorkerError("the CAD worker has no pipes")
            req = {**req, "id": next(self._ids)}
            try:
                proc.stdin.write((json.dumps(req) + "\n").encode())
                await proc.stdin.drain()
                line = await asyncio.wait_for(proc.stdout.readline(), answer_within)
            except TimeoutError:
                await self.stop()
                raise WorkerError(
                    f"the CAD worker did not answer within {answer_within:g} s"
                ) from None
            except (BrokenPipeError, ConnectionResetError):
                await self.stop()
                raise WorkerError("the CAD worker died") from None
            if not line:
                await self.stop()
                raise WorkerError("the CAD worker died")
        answer = json.loads(line)
        if answer.get("ok"):
            return dict(answer["result"])
        error = answer.get("error") or {}
        cls = _ERRORS.get(str(error.get("code")), CadError)
        raise cls(str(error.get("message") or "the CAD worker failed"))

    async def stop(self) -> None:
        """Close stdin (the worker exits), kill it if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
