"""The printers page in real headless Chromium drives a real printer: its pause button pauses
OctoPrint's Virtual Printer (through the add-on's API, behind the ingress path)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from playwright.async_api import Browser
import pytest

from jarvis_addon.printers.manager import PrinterManager
from jarvis_addon.settings import PrinterConfig
from tests.support.octoprint import OctoPrint, gcode_file
from tests.support.printer_outbox import Outbox
from tests.support.printer_peers import octoprint, octoprint_server

from .test_browser import ARTIFACTS, _open, browser, ingress_site, ui_state

__all__ = ["browser", "octoprint", "octoprint_server"]
pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(180)]


async def test_the_pause_button_pauses_the_virtual_printer(
    browser: Browser, octoprint: OctoPrint, tmp_path: Path
) -> None:
    config = PrinterConfig(
        id="mk3",
        name="Workshop MK3",
        type="octoprint",
        url=octoprint.url,
        api_key=octoprint.api_key,
    )
    outbox = Outbox()
    async with aiohttp.ClientSession() as session:
        manager = PrinterManager(
            (config,), session, outbox, data_dir=tmp_path, files_dir=tmp_path, poll_interval=1
        )
        manager.start()
        try:
            await manager.execute(
                "mk3", "print_file", {"filename": "bracket.gcode", "gcode": gcode_file(400)}
            )
            await asyncio.to_thread(octoprint.wait_state, lambda st: st == "Printing", 30)
            await manager.refresh("mk3")
            async with ingress_site(ui_state(printers=manager)) as site:
                page, _requested, problems = await _open(browser, f"{site.ingress_url}/")
                await page.click("nav a[data-page=printers]")
                card = page.locator('.printer[data-printer="mk3"][data-state="printing"]')
                await card.wait_for(timeout=20_000)
                await page.screenshot(path=str(ARTIFACTS / "printers-printing.png"))
                await card.locator('button[data-action="pause"]').click()
                await asyncio.to_thread(octoprint.wait_state, lambda st: st == "Paused", 30)
                # The page shows what the manager last saw: let it look, then open the page again.
                await manager.refresh("mk3")
                await page.click("nav a[data-page=printers]")
                await page.locator('.printer[data-printer="mk3"][data-state="paused"]').wait_for(
                    timeout=20_000
                )
                await page.screenshot(path=str(ARTIFACTS / "printers-paused.png"))
                # Every request stayed under the ingress path; the command went through it.
                assert "/api/v1/printers/mk3/command" in site.proxied
                assert problems == []
            await manager.execute("mk3", "cancel", {})
        finally:
            await manager.stop()
    assert any(e["event"] == "job_paused" for e in outbox.events)
