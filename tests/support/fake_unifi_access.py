"""A loopback UniFi Access console speaking the developer API's wire format (HTTPS, self-signed).

Serves what the safety gate uses: `GET /api/v1/developer/users[/:id]`, `POST .../system/logs`
(door_openings hits as `data.hits[]._source`), `GET .../doors` and `PUT .../doors/:id/unlock`.
Every answer uses the `{"code", "msg", "data"}` envelope; a wrong bearer token gets 401 with
`CODE_UNAUTHORIZED`. Tests add users and badge events and read back the unlock calls received.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import ipaddress
from pathlib import Path
import ssl
import tempfile
from typing import Any, Self

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.mosquitto import free_port

HOST = "127.0.0.1"
PREFIX = "/api/v1/developer"


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 (like a console)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "UniFi Access test console")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "console.crt", directory / "console.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


@dataclass
class UnlockCall:
    """One remote unlock the console received."""

    door_id: str
    body: dict[str, Any]
    token: str


@dataclass
class FakeUnifiAccess:
    """The console's state: users, doors, system-log hits, and what it was asked to do."""

    token: str = "access-token"
    tls: bool = True
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    doors: dict[str, dict[str, Any]] = field(default_factory=dict)
    hits: list[dict[str, Any]] = field(default_factory=list)
    unlocks: list[UnlockCall] = field(default_factory=list)
    log_queries: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    # Failure modes: hold every answer back this long; answer every request with this raw body.
    delay: float = 0.0
    raw: tuple[int, str] | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """https://127.0.0.1:PORT (what the client is configured with)."""
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    def add_user(self, user_id: str, name: str, status: str = "ACTIVE") -> None:
        """A user as `GET /users/:id` returns it."""
        first, _, last = name.partition(" ")
        self.users[user_id] = {
            "id": user_id,
            "first_name": first,
            "last_name": last,
            "full_name": name,
            "user_email": f"{user_id}@example.com",
            "employee_number": "",
            "status": status,
            "access_policy_ids": ["policy-workshop"],
            "nfc_cards": [{"id": "04AA", "token": "t"}],
        }

    def add_door(self, door_id: str, name: str) -> None:
        """A door bound to a hub (remote unlock works)."""
        self.doors[door_id] = {
            "id": door_id,
            "name": name,
            "full_name": f"Workshop / {name}",
            "floor_id": "floor-1",
            "type": "door",
            "is_bind_hub": True,
            "door_lock_relay_status": "lock",
            "door_position_status": "close",
        }

    def badge_in(
        self,
        user_id: str,
        door_id: str,
        *,
        when: datetime | None = None,
        credential: str = "NFC",
        result: str = "ACCESS",
    ) -> None:
        """A credential event at a reader, as a system-log hit."""
        moment = when or datetime.now(UTC)
        user = self.users.get(user_id, {"full_name": user_id})
        door = self.doors.get(door_id, {"name": door_id})
        self.hits.append(
            {
                "_id": f"log-{len(self.hits)}",
                "_source": {
                    "actor": {"id": user_id, "type": "user", "display_name": user["full_name"]},
                    "authentication": {"credential_provider": credential},
                    "event": {
                        "type": "access.door.unlock",
                        "result": result,
                        "published": int(moment.timestamp() * 1000),
                        "reason": "",
                        "display_message": "Access Granted" if result == "ACCESS" else "Blocked",
                    },
                    "target": [
                        {"type": "door", "id": door_id, "display_name": door["name"]},
                        {"type": "device", "id": "reader-1", "display_name": "Reader"},
                    ],
                },
            }
        )

    async def start(self, directory: Path | None = None) -> Self:
        """Listen on a free loopback port (HTTPS with a self-signed certificate unless tls=False)."""
        app = web.Application(middlewares=[self._failures])
        app.router.add_get(f"{PREFIX}/users", self._users)
        app.router.add_get(f"{PREFIX}/users/{{user_id}}", self._user)
        app.router.add_post(f"{PREFIX}/system/logs", self._logs)
        app.router.add_get(f"{PREFIX}/doors", self._doors)
        app.router.add_put(f"{PREFIX}/doors/{{door_id}}/unlock", self._unlock)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        self.port = self.port or free_port()
        context = None
        if self.tls:
            context = self_signed_context(directory or Path(tempfile.mkdtemp(prefix="ua-")))
        await web.TCPSite(self._runner, HOST, self.port, ssl_context=context).start()
        return self

    async def stop(self) -> None:
        """Stop listening (the port refuses connections afterwards: UniFi Access is down)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @staticmethod
    def _ok(data: Any, **extra: Any) -> web.Response:
        return web.json_response({"code": "SUCCESS", "msg": "success", "data": data, **extra})

    @staticmethod
    def _error(status: int, code: str, msg: str) -> web.Response:
        return web.json_response({"code": code, "msg": msg, "data": None}, status=status)

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    @web.middleware
    async def _failures(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.raw is not None:
            return web.Response(status=self.raw[0], text=self.raw[1], content_type="text/html")
        response: web.StreamResponse = await handler(request)
        return response

    async def _users(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(401, "CODE_UNAUTHORIZED", "unauthorized")
        users = list(self.users.values())
        return self._ok(users, pagination={"page_num": 1, "page_size": 25, "total": len(users)})

    async def _user(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(401, "CODE_UNAUTHORIZED", "unauthorized")
        user = self.users.get(request.match_info["user_id"])
        if user is None:
            return self._error(404, "CODE_RESOURCE_NOT_FOUND", "user not found")
        return self._ok(user)

    async def _logs(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(401, "CODE_UNAUTHORIZED", "unauthorized")
        body = await request.json()
        self.log_queries.append(body)
        if not isinstance(body, dict) or body.get("topic") not in (
            "door_openings",
            "critical",
            "updates",
            "device_events",
            "admin_activity",
            "visitor",
            "all",
        ):
            return self._error(400, "CODE_PARAMS_INVALID", "invalid topic")
        since, until = body.get("since", 0), body.get("until", 2**40)
        actor = body.get("actor_id")
        hits = [
            h
            for h in self.hits
            if since * 1000 <= h["_source"]["event"]["published"] <= until * 1000 + 999
            and (actor is None or h["_source"]["actor"]["id"] == actor)
        ]
        return self._ok(
            {"hits": hits},
            pagination={"page_num": 1, "page_size": len(hits), "total": len(hits)},
        )

    async def _doors(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(401, "CODE_UNAUTHORIZED", "unauthorized")
        return self._ok(list(self.doors.values()))

    async def _unlock(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(401, "CODE_UNAUTHORIZED", "unauthorized")
        door_id = request.match_info["door_id"]
        if door_id not in self.doors:
            return self._error(404, "CODE_RESOURCE_NOT_FOUND", "door not found")
        body = await request.json() if request.can_read_body else {}
        if bool(body.get("actor_id")) != bool(body.get("actor_name")):
            return self._error(400, "CODE_PARAMS_INVALID", "actor_id and actor_name go together")
        self.unlocks.append(UnlockCall(door_id, body, self.token))
        return self._ok("success")
