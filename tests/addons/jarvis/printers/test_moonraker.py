"""MoonrakerClient against a real Moonraker 0.11.0 and the Klipper stub."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from jarvis_addon.printers.base import (
    PrinterAuthError,
    PrinterOfflineError,
    PrinterUnreachableError,
)
from jarvis_addon.printers.moonraker import MoonrakerClient
from tests.support.moonraker import Moonraker
from tests.support.mosquitto import free_port


async def _wait_state(client: MoonrakerClient, state: str, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while (await client.status()).state != state:
            await asyncio.sleep(0.1)


async def test_print_pause_resume_cancel_and_pushes(
    moonraker: Moonraker, http: aiohttp.ClientSession
) -> None:
    client = MoonrakerClient(http, moonraker.url, moonraker.api_key)
    assert (await client.server_info())["klippy_state"] == "ready"
    changes = 0

    def on_change() -> None:
        nonlocal changes
        changes += 1

    watcher = asyncio.create_task(client.watch(on_change))
    try:
        idle = await client.status()
        assert idle.state == "idle" and idle.temperatures["tool0"].actual is not None
        await client.preheat(210, 60)
        stored = await client.upload("mr-test.gcode", b"G28\nG1 X10\n")
        assert stored == "mr-test.gcode"
        await client.start(stored)
        await _wait_state(client, "printing")
        status = await client.status()
        assert status.file == "mr-test.gcode" and status.temperatures["tool0"].target == 210
        await client.pause()
        await _wait_state(client, "paused")
        await client.resume()
        await _wait_state(client, "printing")
        await asyncio.sleep(1)
        running = await client.status()
        assert running.progress and running.progress > 0 and running.time_left_s is not None
        await client.cancel()
        await _wait_state(client, "idle")
        assert (await client.status()).message == "cancelled"
        assert changes > 3  # status pushes, not only polls
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    calls = moonraker.klipper_calls()
    assert [c for c in calls if c.startswith("SDCARD_PRINT_FILE")] == [
        'SDCARD_PRINT_FILE FILENAME="mr-test.gcode"'
    ]
    assert calls.count("PAUSE") == 1 and calls.count("RESUME") == 1 and "CANCEL_PRINT" in calls


async def test_errors_are_typed(moonraker: Moonraker, http: aiohttp.ClientSession) -> None:
    with pytest.raises(PrinterAuthError, match="401"):
        await MoonrakerClient(http, moonraker.url, "wrong").status()
    with pytest.raises(PrinterUnreachableError):
        await MoonrakerClient(http, f"http://127.0.0.1:{free_port()}", "k", timeout=2).status()
    client = MoonrakerClient(http, moonraker.url, moonraker.api_key)
    assert await client.snapshot_url() is None
    moonraker.stop_klipper()
    async with asyncio.timeout(10):
        while (status := await client.status()).state != "offline":
            await asyncio.sleep(0.1)
    assert "Klipper" in status.message
    with pytest.raises(PrinterOfflineError, match="Klipper is not connected"):
        await client.pause()
    moonraker.start_klipper()
    await _wait_state(client, "idle", timeout=15)
