"""The cameras page in real headless Chromium: the live view of a real CV monitor (synthetic
print frames from a loopback camera, the real detector, events on a real MQTT bridge), behind
the ingress path prefix. The view updates, the failure box appears, the timeline lists it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import cv2
import numpy as np
from playwright.async_api import Browser
import pytest
import pytest_asyncio

from jarvis_addon.cameras.http_sources import UrlSnapshotSource
from jarvis_addon.cv.monitor import CameraMonitor, CameraSpec, CvService
from jarvis_addon.cv.synth import make_sequence
from jarvis_addon.mqtt import MqttBridge
from tests.addons.jarvis.cv.bridge import started_bridge, until
from tests.addons.jarvis.cv.camera_server import CameraServer
from tests.addons.jarvis.cv.printer_link import LocalPrinters
from tests.support.cv_frames import PAUSED_ON
from tests.support.mosquitto import Mosquitto

from .test_browser import ARTIFACTS, _open, browser, ingress_site, ui_state

__all__ = ["browser"]
pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(150)]

CAMERA = "printer_1_cam"


@pytest_asyncio.fixture
async def bridge(broker: Mosquitto) -> AsyncIterator[MqttBridge]:
    b = await started_bridge(broker)
    yield b
    await b.stop()


def red_pixels(jpeg: bytes) -> int:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    b, g, r = cv2.split(img.astype(np.int16))
    return int(np.count_nonzero((r > 180) & (g < 80) & (b < 80)))


async def test_live_view_overlay_and_timeline(
    browser: Browser, bridge: MqttBridge, tmp_path: Path
) -> None:
    frames = [f.jpeg for f in make_sequence(PAUSED_ON[1], PAUSED_ON[0]).frames()]
    camera = await CameraServer(frames).start()
    printers = LocalPrinters("printer_1")
    async with aiohttp.ClientSession() as session:
        spec = CameraSpec(CAMERA, "printer_1", UrlSnapshotSource(session, f"{camera.url}/snap.jpg"))
        # A frame every 0.1 s: slow enough for the page to see the view move, fast enough to
        # reach the pause (frame 72) in a test.
        monitor = CameraMonitor(spec, printers, bridge, tmp_path / "cv", interval=0.1)
        service = CvService([monitor], printers)
        service.start()
        try:
            async with ingress_site(ui_state(cv=service)) as site:
                page, _requested, problems = await _open(browser, f"{site.ingress_url}/")
                await page.click("nav a[data-page=cameras]")
                card = page.locator(f'.camera-card[data-camera="{CAMERA}"]')
                await card.wait_for(timeout=15_000)
                printers.start_job("printer_1")

                # The live view moves: two different frames are shown, one after the other.
                img = card.locator("img.live[data-frame]")
                await img.wait_for(timeout=20_000)
                first = await img.get_attribute("data-frame")
                await page.wait_for_function(
                    "(f) => { const i = document.querySelector('img.live[data-frame]');"
                    " return i && i.dataset.frame !== f && i.naturalWidth > 0; }",
                    arg=first,
                    timeout=20_000,
                )
                assert await img.evaluate("i => i.naturalWidth") == 640
                await page.screenshot(path=str(ARTIFACTS / "cameras-live.png"))

                # The failure: the monitor pauses the printer; the overlay shows the box.
                await until(lambda: printers.pauses != [], 90, "the CV pause")
                await page.locator(f'{card_sel(CAMERA)} img.live[data-level="pause"]').wait_for(
                    timeout=15_000
                )
                badge = card.locator(".detection.pause")
                assert await badge.is_visible()
                assert PAUSED_ON[0] in (await badge.text_content() or "")
                box = await img.get_attribute("data-box")
                assert box and len(box.split(",")) == 4
                # The box is drawn into the frame the page shows: red pixels the camera's own
                # frame does not have.
                latest = monitor.latest
                assert latest is not None
                async with session.get(
                    f"{site.ingress_url}/api/v1/cv/cameras/{CAMERA}/frame.jpg"
                ) as resp:
                    assert resp.status == 200
                    shown = await resp.read()
                assert red_pixels(shown) > red_pixels(latest.jpeg) + 200

                # The timeline lists the failure with its evidence, reachable under ingress.
                item = card.locator("ul.timeline li.failure")
                await item.wait_for(timeout=15_000)
                text = await item.text_content() or ""
                assert "failure" in text and "print paused" in text and "score" in text
                href = await item.locator("a.evidence").get_attribute("href")
                assert href and href.startswith(f"api/v1/cv/cameras/{CAMERA}/evidence/")
                status: int = await page.evaluate("(h) => fetch(h).then((r) => r.status)", href)
                assert status == 200
                await page.screenshot(path=str(ARTIFACTS / "cameras-failure.png"), full_page=True)
                assert f"/api/v1/cv/cameras/{CAMERA}/live" in site.proxied
                assert problems == []
        finally:
            await service.stop()
            await camera.stop()


def card_sel(camera_id: str) -> str:
    return f'.camera-card[data-camera="{camera_id}"]'
