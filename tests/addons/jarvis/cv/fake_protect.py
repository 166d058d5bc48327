"""A loopback UniFi Protect console speaking the two calls a snapshot needs (HTTPS, like the real one).

Wire format as `uiprotect` uses it: `POST /api/auth/login {username, password, rememberMe}` ->
200 with `x-csrf-token` and a `TOKEN` cookie (a JWT whose `exp` the client reads); then
`GET /proxy/protect/api/cameras/<id>/snapshot?ts=..&force=true` with that cookie -> image/jpeg,
401 without it, 404 for an unknown camera.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
import secrets
import ssl
import subprocess
import time

from aiohttp import web

from tests.support.mosquitto import free_port


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(exp: float, key: bytes) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"exp": int(exp), "userId": "viewer"}).encode())
    sig = _b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def self_signed(workdir: Path) -> ssl.SSLContext:
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


class FakeProtect:
    def __init__(self, workdir: Path, snapshots: dict[str, bytes], password: str = "pw") -> None:
        self.workdir = workdir
        self.snapshots = snapshots
        self.password = password
        self.logins = 0
        self.snapshot_requests: list[dict[str, str]] = []
        self._key = secrets.token_bytes(16)
        self._token = ""
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _login(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("username") != "viewer" or body.get("password") != self.password:
            return web.json_response({"errors": ["Invalid username or password"]}, status=401)
        self.logins += 1
        self._token = make_jwt(time.time() + 7200, self._key)
        resp = web.json_response({"unique_id": "viewer"})
        resp.headers["x-csrf-token"] = secrets.token_hex(8)
        resp.set_cookie("TOKEN", self._token, httponly=True, secure=True)
        return resp

    async def _snapshot(self, request: web.Request) -> web.Response:
        if not self._token or f"TOKEN={self._token}" not in request.headers.get("Cookie", ""):
            return web.json_response({"error": "unauthorized"}, status=401)
        self.snapshot_requests.append(dict(request.query))
        cam = request.match_info["camera_id"]
        if cam not in self.snapshots:
            return web.json_response({"error": "not found"}, status=404)
        resp = web.Response(body=self.snapshots[cam], content_type="image/jpeg")
        resp.set_cookie("TOKEN", self._token, httponly=True, secure=True)
        return resp

    async def start(self) -> FakeProtect:
        app = web.Application()
        app.router.add_post("/api/auth/login", self._login)
        app.router.add_get("/proxy/protect/api/cameras/{camera_id}/snapshot", self._snapshot)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(
            self._runner, "127.0.0.1", self.port, ssl_context=self_signed(self.workdir)
        ).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
