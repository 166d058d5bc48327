"""The add-on's web UI in real headless Chromium (Debian's), behind an ingress-style proxy.

The proxy does what the Supervisor's ingress does: it serves the add-on under
`/api/hassio_ingress/<token>/`, strips that prefix and sends `X-Ingress-Path`; the add-on trusts
it as the Supervisor's ingress peer. Screenshots go to artifacts/ui/ (CI keeps them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
import math
from pathlib import Path
import shutil
import struct
from typing import Any

import aiohttp
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright
import pytest
import pytest_asyncio

from jarvis_addon.mqtt import Broker
from jarvis_addon.web import ApiState, create_app
from tests.addons.jarvis.bridge_status import BridgeStatus
from tests.support.mosquitto import free_port

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[4] / "artifacts" / "ui"
INGRESS_PATH = "/api/hassio_ingress/Zk9xV2tRb0FhY3Rvcnk"
TOKEN = "api-token-for-ui-tests-0123456789"


@dataclass
class Site:
    """The add-on and the ingress proxy in front of it."""

    addon_url: str
    ingress_url: str  # http://127.0.0.1:<port><INGRESS_PATH>
    proxied: list[str]  # add-on paths the proxy forwarded


async def _start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def ingress_site(state: ApiState) -> AsyncIterator[Site]:
    """The add-on's app for this state, behind a proxy that behaves like the Supervisor's ingress."""
    addon_runner, addon_url = await _start(create_app(state))
    session = aiohttp.ClientSession()
    proxied: list[str] = []

    async def ingress(request: web.Request) -> web.Response:
        tail = "/" + request.match_info["tail"]
        proxied.append(tail)
        headers = {
            k: v for k, v in request.headers.items() if k.lower() in ("accept", "content-type")
        }
        headers["X-Ingress-Path"] = INGRESS_PATH
        async with session.request(
            request.method,
            addon_url + tail,
            params=request.rel_url.query,
            data=await request.read() if request.body_exists else None,
            headers=headers,
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            keep = {
                k: v
                for k, v in answer.headers.items()
                if k.lower() in ("content-type", "content-security-policy", "cache-control")
            }
            return web.Response(status=answer.status, body=body, headers=keep)

    proxy = web.Application()
    proxy.router.add_route("*", INGRESS_PATH + "/{tail:.*}", ingress)
    proxy_runner, proxy_url = await _start(proxy)
    try:
        yield Site(addon_url, proxy_url + INGRESS_PATH, proxied)
    finally:
        await proxy_runner.cleanup()
        await session.close()
        await addon_runner.cleanup()


def ui_state(**extra: Any) -> ApiState:
    """The add-on's API state as under the Supervisor (ingress trusted from loopback)."""
    return ApiState(
        api_token=TOKEN,
        mqtt=BridgeStatus(
            reconnects=1,
            broker=Broker("core-mosquitto", 1883, source="supervisor"),
            client_id="jarvis-addon-ui",
        ),
        instance_id="0123abcd",
        hostname="jarvis-ui-test",
        supervised=True,
        ingress_peer="127.0.0.1",
        **extra,
    )


@pytest_asyncio.fixture
async def site() -> AsyncIterator[Site]:
    async with ingress_site(ui_state()) as started:
        yield started


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup installs Debian's chromium")
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture(scope="module", autouse=True)
def artifacts() -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)


async def _open(browser: Browser, url: str) -> tuple[Page, list[str], list[str]]:
    page = await browser.new_page(viewport={"width": 1024, "height": 768})
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and "404" not in m.text else None,
    )
    await page.goto(url)
    await page.wait_for_selector("body[data-ready=true]", timeout=15_000)
    return page, requested, problems


def pyramid_stl() -> tuple[bytes, int]:
    """A binary STL of a square pyramid (6 triangles) with a zero normal, as many exporters write."""
    apex, base = (
        (0.0, 0.0, 30.0),
        [(-20.0, -20.0, 0.0), (20.0, -20.0, 0.0), (20.0, 20.0, 0.0), (-20.0, 20.0, 0.0)],
    )
    tris = [(base[i], base[(i + 1) % 4], apex) for i in range(4)]
    tris += [(base[0], base[2], base[1]), (base[0], base[3], base[2])]
    body = b"".join(
        struct.pack("<3f", 0.0, 0.0, 0.0) + b"".join(struct.pack("<3f", *v) for v in tri) + b"\0\0"
        for tri in tris
    )
    return b"jarvis test pyramid".ljust(80, b" ") + struct.pack("<I", len(tris)) + body, len(tris)


async def test_pages_render_behind_the_ingress_prefix(browser: Browser, site: Site) -> None:
    page, requested, problems = await _open(browser, site.ingress_url + "/")
    assert await page.text_content("#addon-card") is not None
    addon = await page.text_content("#addon-card") or ""
    assert "jarvis-ui-test" in addon
    assert "core-mosquitto:1883" in (await page.text_content("#mqtt-card") or "")
    await page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

    for name, empty_text in (
        ("printers", "No printers"),
        ("cameras", "No cameras"),
        ("cad", "No CAD jobs"),
    ):
        await page.click(f"nav a[data-page={name}]")
        await page.wait_for_url(f"{site.ingress_url}/{name}")
        await page.wait_for_selector("body[data-ready=true]")
        # The JSON endpoints do not exist in this add-on yet (404): an empty state, no error.
        empty = await page.text_content("[data-empty]")
        assert empty is not None and empty_text in empty, name
        assert await page.query_selector(".error") is None, name
        await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    # Everything the browser fetched went through the ingress prefix.
    assert requested
    assert all(url.startswith(site.ingress_url + "/") for url in requested), requested
    assert {"/static/app.js", "/static/app.css", "/api/v1/health", "/api/v1/printers"} <= set(
        site.proxied
    )
    assert problems == []


async def test_the_3d_preview_loads_a_generated_stl(
    browser: Browser, site: Site, tmp_path: Path
) -> None:
    stl, triangles = pyramid_stl()
    path = tmp_path / "pyramid.stl"
    path.write_bytes(stl)
    page, _requested, problems = await _open(browser, site.ingress_url + "/cad")
    await page.set_input_files("#stl-file", str(path))
    await page.wait_for_selector(f"#viewer[data-triangles='{triangles}']", timeout=15_000)
    status = await page.text_content("#viewer-status") or ""
    assert f"pyramid.stl: {triangles} triangles" in status
    renderer: str = await page.evaluate("window.jarvisViewer.renderer")
    coverage: float = await page.evaluate("window.jarvisViewer.coverage()")
    # The pyramid fills a good part of the canvas; an empty canvas would be 0.
    assert 0.03 < coverage < 0.9, (renderer, coverage)
    await page.screenshot(path=str(ARTIFACTS / f"cad-preview-{renderer}.png"), full_page=True)
    assert problems == []


async def test_without_webgl_the_viewer_draws_on_a_2d_canvas(site: Site, tmp_path: Path) -> None:
    stl, triangles = pyramid_stl()
    path = tmp_path / "pyramid.stl"
    path.write_bytes(stl)
    async with async_playwright() as pw:
        no_gl = await pw.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--disable-3d-apis"]
        )
        try:
            page, _requested, problems = await _open(no_gl, site.ingress_url + "/cad")
            await page.set_input_files("#stl-file", str(path))
            await page.wait_for_selector(f"#viewer[data-triangles='{triangles}']")
            assert await page.evaluate("window.jarvisViewer.renderer") == "canvas2d"
            coverage: float = await page.evaluate("window.jarvisViewer.coverage()")
            assert 0.03 < coverage < 0.9
            await page.screenshot(path=str(ARTIFACTS / "cad-preview-canvas2d.png"))
            assert problems == []
        finally:
            await no_gl.close()


async def test_the_viewer_reads_ascii_stl_and_refuses_other_files(
    browser: Browser, site: Site
) -> None:
    page, _requested, _problems = await _open(browser, site.ingress_url + "/cad")
    ascii_stl = (
        "solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\n"
        "endloop\nendfacet\nendsolid t\n"
    )
    parsed: list[Any] = await page.evaluate(
        "(t) => Array.from(parseStl(new TextEncoder().encode(t).buffer))", ascii_stl
    )
    assert parsed == [0, 0, 0, 1, 0, 0, 0, 1, 0]
    error: str = await page.evaluate(
        "() => { try { parseStl(new TextEncoder().encode('PK zip file').buffer); return ''; }"
        " catch (e) { return e.message; } }"
    )
    assert error == "not an STL file"
    assert math.isclose(len(parsed) / 9, 1)
