"""An aiohttp app on a free 127.0.0.1 port: the scaffolding every wire-format fake shares."""

from __future__ import annotations

from typing import Self

from aiohttp import web

from tests.support.mosquitto import free_port

HOST = "127.0.0.1"


class LoopbackServer:
    """Subclasses add their routes in `routes`; start() listens, stop() stops listening."""

    def __init__(self) -> None:
        """Not listening yet."""
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT (no trailing slash)."""
        return f"http://{HOST}:{self.port}"

    def routes(self, app: web.Application) -> None:
        """Add the fake's routes."""
        raise NotImplementedError

    async def start(self) -> Self:
        """Listen on a free port."""
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, HOST, self.port).start()
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
