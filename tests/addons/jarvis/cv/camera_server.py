"""A loopback HTTP camera: snapshot, MJPEG and HA camera_proxy endpoints over a frame list.

Each snapshot request takes the next frame; `mode` makes it misbehave the way real cameras do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from aiohttp import web

from tests.support.mosquitto import free_port


class CameraServer:
    """`frames` are served in order (the last repeats); `mode`: ok, error, slow, corrupt, empty."""

    def __init__(self, frames: list[bytes], token: str = "camera-token") -> None:
        self.frames = frames
        self.index = 0
        self.mode = "ok"
        self.token = token
        self.requests = 0
        self.url = ""
        self.port = 0
        self._runner: web.AppRunner | None = None

    def next_frame(self) -> bytes:
        frame = self.frames[min(self.index, len(self.frames) - 1)]
        self.index += 1
        return frame

    async def _snapshot(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.mode == "error":
            return web.Response(status=503, text="camera unavailable")
        if self.mode == "slow":
            await asyncio.sleep(5)
        if self.mode == "corrupt":
            return web.Response(body=self.next_frame()[:200], content_type="image/jpeg")
        if self.mode == "empty":
            return web.Response(body=b"", content_type="image/jpeg")
        return web.Response(body=self.next_frame(), content_type="image/jpeg")

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"message": "401: Unauthorized"}, status=401)
        if request.match_info["entity_id"] != "camera.printer":
            return web.json_response({"message": "Entity not found"}, status=404)
        return await self._snapshot(request)

    async def _mjpeg(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame"}
        )
        await resp.prepare(request)
        for _ in range(3):
            frame = self.next_frame()
            await resp.write(
                b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                + str(len(frame)).encode()
                + b"\r\n\r\n"
                + frame
                + b"\r\n"
            )
            await asyncio.sleep(0.05)
        return resp

    async def start(self, port: int | None = None) -> CameraServer:
        """Serve on a free port, or on `port` again (a camera back from being offline)."""
        app = web.Application()
        app.router.add_get("/snap.jpg", self._snapshot)
        app.router.add_get("/stream.mjpg", self._mjpeg)
        app.router.add_get("/api/camera_proxy/{entity_id}", self._proxy)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def cycle(frames: list[bytes]) -> Iterator[bytes]:
    while True:
        yield from frames
