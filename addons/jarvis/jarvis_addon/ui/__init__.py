"""The add-on's web UI, shown in Home Assistant through ingress.

Server side renders one HTML shell per page; the page's script fetches the JSON API. Ingress
serves the add-on under a per-session path prefix (`X-Ingress-Path`), so every shell carries
`<base href="<prefix>/">` and every link and fetch is relative: the same pages work under
ingress and on the add-on's own port. Static files (CSS, the scripts, the STL viewer) ship in the
package; nothing is loaded from the internet.
"""

from __future__ import annotations

import functools
from html import escape
from importlib import resources
import re
from typing import Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

STATIC_PREFIX: Final = "/static"
# A prefix the Supervisor sends looks like /api/hassio_ingress/<token>; anything else is refused
# rather than echoed into the page.
_INGRESS_PATH_RE: Final = re.compile(r"(/[A-Za-z0-9_\-.~]+)*")
CSP: Final = (
    "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'self'"
)


PAGES: Final = {
    "": ("overview", "Overview"),
    "printers": ("printers", "Printers and jobs"),
    "cameras": ("cameras", "Cameras"),
    "cad": ("cad", "CAD gallery"),
}


def ingress_base(request: web.Request) -> str:
    """The base href: the ingress prefix plus a slash, or just a slash."""
    prefix = request.headers.get("X-Ingress-Path", "").rstrip("/")
    if not _INGRESS_PATH_RE.fullmatch(prefix):
        raise web.HTTPBadRequest(text="X-Ingress-Path is not a plain path")
    return f"{prefix}/"


def render(page: str, title: str, base: str) -> str:
    """One page's HTML shell."""
    nav = "".join(
        f'<a href="{path}" class="{"active" if key == page else ""}" data-page="{key}">'
        f"{escape(label)}</a>"
        for path, (key, label) in PAGES.items()
    )
    viewer = '<script src="static/stl-viewer.js"></script>' if page == "cad" else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<base href="{escape(base)}">
<title>Jarvis - {escape(title)}</title>
<link rel="stylesheet" href="static/app.css">
</head>
<body data-page="{page}">
<header><h1>Jarvis</h1><nav>{nav}</nav></header>
<main id="main"><h2>{escape(title)}</h2><div id="content" aria-busy="true">Loading...</div></main>
{viewer}<script src="static/app.js"></script>
</body>
</html>
"""


def _page_handler(page: str, title: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            text=render(page, title, ingress_base(request)),
            content_type="text/html",
            headers={"Content-Security-Policy": CSP, hdrs.CACHE_CONTROL: "no-cache"},
        )

    return handler


STATIC_TYPES: Final = {".js": "text/javascript", ".css": "text/css"}


@functools.cache
def _shipped(name: str) -> bytes | None:
    """A static file's bytes, read once (they are small and never change while running)."""
    source = resources.files(__package__) / "static" / name
    return source.read_bytes() if source.is_file() else None


async def static_file(request: web.Request) -> web.Response:
    """One of the shipped files (a fixed set: nothing else on disk is reachable)."""
    name = request.match_info["name"]
    kind = STATIC_TYPES.get(name[name.rfind(".") :]) if "." in name else None
    body = _shipped(name) if kind is not None and "/" not in name else None
    if body is None:
        raise web.HTTPNotFound
    return web.Response(
        body=body,
        content_type=kind,
        charset="utf-8",
        headers={hdrs.CACHE_CONTROL: "no-cache"},
    )


def add_ui_routes(app: web.Application) -> None:
    """The pages at /, /printers, /cameras, /cad and the static files at /static/."""
    for path, (page, title) in PAGES.items():
        app.router.add_get(f"/{path}", _page_handler(page, title))
    app.router.add_get(STATIC_PREFIX + "/{name}", static_file)
