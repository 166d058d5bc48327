"""PrinterManager against a real OctoPrint 1.11.8 Virtual Printer: reads racing commands."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from jarvis_addon.printers.manager import PrinterManager
from jarvis_addon.settings import PrinterConfig
from tests.support.loopback import LoopbackServer
from tests.support.octoprint import OctoPrint, gcode_file
from tests.support.printer_outbox import Outbox

PRINTER = "mk3"


class HoldingProxy(LoopbackServer):
    """Forwards every request to `target`; `hold(path)` keeps GETs of path waiting until release().

    A status read is two requests (the job, then the temperatures); holding the second keeps a
    read in flight with the first answer already taken, as a slow network or a busy host does.
    """

    def __init__(self, target: str) -> None:
        """Forwarding, holding nothing."""
        super().__init__()
        self._target = target
        self._hold_path: str | None = None
        self._released = asyncio.Event()
        self.held = asyncio.Event()  # a request is being held

    def hold(self, path: str) -> None:
        """Hold the next GETs of path."""
        self._hold_path = path
        self._released.clear()
        self.held.clear()

    def release(self) -> None:
        """Let the held requests through and hold no more."""
        self._hold_path = None
        self._released.set()

    def routes(self, app: web.Application) -> None:
        """Everything is forwarded."""
        app.router.add_route("*", "/{tail:.*}", self._forward)

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, self._target + request.path_qs, data=body, headers=headers
            ) as resp,
        ):
            data = await resp.read()
            status, ctype = resp.status, resp.headers.get("Content-Type")
        if request.method == "GET" and request.path == self._hold_path:
            self.held.set()
            await self._released.wait()
        return web.Response(
            body=data, status=status, headers={"Content-Type": ctype or "text/plain"}
        )


async def _read_during(
    manager: PrinterManager, proxy: HoldingProxy, command: str
) -> dict[str, Any]:
    """A status read that has the job's state in hand when `command` runs, and ends after it."""
    proxy.hold("/api/printer")
    read = asyncio.create_task(manager.refresh(PRINTER))
    try:
        async with asyncio.timeout(10):
            await proxy.held.wait()
        await manager.execute(PRINTER, command, {"reason": "test"} if command == "pause" else {})
    finally:
        proxy.release()
    async with asyncio.timeout(10):
        return await read


async def test_a_status_read_from_before_a_pause_or_resume_does_not_undo_it(
    octoprint: OctoPrint, tmp_path: Path
) -> None:
    # Before the fix, the stale "printing" turned the paused job back into a running one
    # (job_resumed that never happened; the CV monitor then watched, and could pause, again).
    proxy = await HoldingProxy(octoprint.url).start()
    outbox = Outbox()
    try:
        async with aiohttp.ClientSession() as session:
            config = PrinterConfig(
                id=PRINTER, name="MK3", type="octoprint", url=proxy.url, api_key=octoprint.api_key
            )
            # Not started: no poll loop; every read here is the test's own.
            manager = PrinterManager(
                (config,), session, outbox, data_dir=tmp_path, files_dir=tmp_path
            )
            await manager.execute(
                PRINTER, "print_file", {"filename": "part.gcode", "gcode": gcode_file(400)}
            )
            await asyncio.to_thread(octoprint.wait_state, lambda st: st == "Printing", 30)
            assert (await manager.refresh(PRINTER))["state"] == "printing"

            paused = await _read_during(manager, proxy, "pause")
            assert outbox.names == ["job_started", "job_paused"]
            assert paused["state"] == "paused" and paused["job"]["state"] == "paused", paused
            await asyncio.to_thread(octoprint.wait_state, lambda st: st == "Paused", 30)

            resumed = await _read_during(manager, proxy, "resume")
            assert outbox.names == ["job_started", "job_paused", "job_resumed"]
            assert resumed["state"] == "printing" and resumed["job"]["state"] == "printing"
            assert (await manager.refresh(PRINTER))["job"]["state"] == "printing"
            assert outbox.names == ["job_started", "job_paused", "job_resumed"]
            await manager.execute(PRINTER, "cancel", {})
    finally:
        await proxy.stop()
