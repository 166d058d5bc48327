"""OctoPrintClient against a real OctoPrint 1.11.8 with its Virtual Printer."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from jarvis_addon.printers.base import (
    PrinterAuthError,
    PrinterConflictError,
    PrinterOfflineError,
    PrinterUnreachableError,
)
from jarvis_addon.printers.octoprint import OctoPrintClient, request_app_key
from tests.support.mosquitto import free_port
from tests.support.octoprint import OctoPrint, gcode_file


async def _wait_state(client: OctoPrintClient, state: str, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while (await client.status()).state != state:
            await asyncio.sleep(0.1)


async def test_print_pause_resume_cancel(octoprint: OctoPrint, http: aiohttp.ClientSession) -> None:
    client = OctoPrintClient(http, octoprint.url, octoprint.api_key)
    assert (await client.version())["server"] == "1.11.8"
    async with asyncio.timeout(15):  # temperatures arrive with OctoPrint's first M105 poll
        while "tool0" not in (idle := await client.status()).temperatures:
            await asyncio.sleep(0.2)
    assert idle.state == "idle" and "bed" in idle.temperatures
    await client.preheat(200, 60)
    async with asyncio.timeout(10):
        while (await client.status()).temperatures["tool0"].target != 200:
            await asyncio.sleep(0.1)
    stored = await client.upload("op-test.gcode", gcode_file(layers=80).encode())
    assert stored == "op-test.gcode" and "op-test.gcode" in octoprint.files()
    await client.start(stored)
    await _wait_state(client, "printing")
    printing = await client.status()
    assert printing.file == "op-test.gcode"
    await client.pause()
    await _wait_state(client, "paused")  # OctoPrint's "Pausing" counts as paused
    octoprint.wait_state(lambda s: s == "Paused")
    await client.pause()  # a second pause is a no-op, never a toggle
    await asyncio.sleep(0.5)
    assert octoprint.job()["state"] == "Paused"
    await client.resume()
    await _wait_state(client, "printing")
    await client.gcode(["M117 hello"])
    await client.cancel()
    await _wait_state(client, "idle")
    with pytest.raises(PrinterConflictError, match="409"):
        await client.cancel()  # no job: 409, but the printer is online


async def test_push_events_arrive(octoprint: OctoPrint, http: aiohttp.ClientSession) -> None:
    client = OctoPrintClient(http, octoprint.url, octoprint.api_key)
    changes = asyncio.Event()
    count = 0

    def on_change() -> None:
        nonlocal count
        count += 1
        if count > 1:
            changes.set()

    watcher = asyncio.create_task(client.watch(on_change))
    try:
        await asyncio.sleep(0.5)
        await client.gcode(["M104 S0"])
        await client.upload("event.gcode", b"G28\n")  # Upload event
        async with asyncio.timeout(10):
            await changes.wait()
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def test_errors_are_typed(octoprint: OctoPrint, http: aiohttp.ClientSession) -> None:
    wrong = OctoPrintClient(http, octoprint.url, "WRONGKEY")
    with pytest.raises(PrinterAuthError, match="rejected the API key"):
        await wrong.status()
    nobody = OctoPrintClient(http, f"http://127.0.0.1:{free_port()}", "x", timeout=2)
    with pytest.raises(PrinterUnreachableError, match="unreachable"):
        await nobody.status()
    client = OctoPrintClient(http, octoprint.url, octoprint.api_key, serial_port="VIRTUAL")
    octoprint.disconnect()
    offline = await client.status()
    assert offline.state == "offline" and not offline.online
    with pytest.raises(PrinterOfflineError, match="not operational"):
        await client.preheat(200, None)
    await client.connect()  # back on the configured port
    await _wait_state(client, "idle")
    assert await client.snapshot_url() is None  # the webcam is disabled


async def test_app_key_flow_until_timeout(
    octoprint: OctoPrint, http: aiohttp.ClientSession
) -> None:
    pending: list[bool] = []
    with pytest.raises(PrinterAuthError, match="nobody approved"):
        await request_app_key(
            http,
            octoprint.url,
            "Jarvis test",
            poll_interval=0.2,
            approval_timeout=1.0,
            on_pending=lambda: pending.append(True),
        )
    assert pending == [True]
    nobody = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PrinterUnreachableError):
        await request_app_key(http, nobody, "Jarvis test")
