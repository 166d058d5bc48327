"""The UI's server side: page shells with the ingress base, static files, bad prefixes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
import pytest
import pytest_asyncio

from jarvis_addon.ui import PAGES
from jarvis_addon.web import ApiState, create_app
from tests.addons.jarvis.bridge_status import BridgeStatus

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    state = ApiState(api_token="token-for-ui-pages-0123456789", mqtt=BridgeStatus())
    test_client: TestClient[Any, Any] = TestClient(TestServer(create_app(state), host="127.0.0.1"))
    await test_client.start_server()
    yield test_client
    await test_client.close()


@pytest.mark.parametrize("path", [f"/{p}" for p in PAGES])
async def test_pages_carry_the_ingress_prefix_as_base(
    client: TestClient[Any, Any], path: str
) -> None:
    resp = await client.get(path, headers={"X-Ingress-Path": "/api/hassio_ingress/abc-DEF_1"})
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    html = await resp.text()
    assert '<base href="/api/hassio_ingress/abc-DEF_1/">' in html
    assert 'src="static/app.js"' in html  # relative: resolved under the prefix
    assert ('src="static/stl-viewer.js"' in html) == (path == "/cad")


async def test_without_ingress_the_base_is_the_root(client: TestClient[Any, Any]) -> None:
    html = await (await client.get("/")).text()
    assert '<base href="/">' in html
    assert 'class="active" data-page="overview"' in html


@pytest.mark.parametrize(
    "prefix", ['/x"><script>alert(1)</script>', "relative/path", "/a b", "/a/../b?x=1"]
)
async def test_a_prefix_that_is_not_a_plain_path_is_refused(
    client: TestClient[Any, Any], prefix: str
) -> None:
    resp = await client.get("/", headers={"X-Ingress-Path": prefix})
    assert (resp.status, resp.content_type) == (400, "application/json")
    assert (await resp.json())["message"] == "X-Ingress-Path is not a plain path"


async def test_static_files_are_served_and_unknown_ones_are_json_404(
    client: TestClient[Any, Any],
) -> None:
    for name, kind in (
        ("app.js", "javascript"),
        ("stl-viewer.js", "javascript"),
        ("app.css", "text/css"),
    ):
        resp = await client.get(f"/static/{name}")
        assert resp.status == 200, name
        assert kind in resp.content_type, name
    resp = await client.get("/static/nope.js")
    assert (resp.status, resp.content_type) == (404, "application/json")
