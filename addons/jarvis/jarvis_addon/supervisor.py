"""Thin client for the Supervisor REST API (only the calls an add-on without hassio_api may make).

Wire format (supervisor/api/utils.py): every answer is `{"result": "ok", "data": {...}}` or, with
HTTP 400, `{"result": "error", "message": "..."}`; 401/403 come from its token middleware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import logging
import os
import socket
from typing import Any, Final

import aiohttp

_LOGGER = logging.getLogger(__name__)

DEFAULT_URL: Final = "http://supervisor"
DEFAULT_TIMEOUT: Final = 10.0
# HA starts the config flow of the integration whose domain equals this service name.
DISCOVERY_SERVICE: Final = "jarvis"


class SupervisorError(Exception):
    """A Supervisor call failed: unreachable, timed out, refused, or answered something unexpected."""


@dataclass(frozen=True, slots=True)
class MqttService:
    """The `mqtt` service as the Supervisor hands it out (GET /services/mqtt)."""

    host: str
    port: int
    ssl: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    protocol: str = "3.1.1"


class SupervisorClient:
    """Calls the Supervisor with the add-on's SUPERVISOR_TOKEN; each call has a timeout."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token: str,
        base_url: str = DEFAULT_URL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Use the caller's session (one per process); timeout applies to each call."""
        self._session = session
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @classmethod
    def from_env(
        cls, session: aiohttp.ClientSession, environ: Mapping[str, str] | None = None
    ) -> SupervisorClient | None:
        """A client when running under the Supervisor (SUPERVISOR_TOKEN set), else None."""
        env = os.environ if environ is None else environ
        token = env.get("SUPERVISOR_TOKEN")
        if not token:
            return None
        return cls(session, token, env.get("SUPERVISOR_URL") or DEFAULT_URL)

    @property
    def base_url(self) -> str:
        """Where the Supervisor is reached."""
        return self._base_url

    async def get_mqtt_service(self) -> MqttService:
        """Broker address and credentials of the MQTT service provider (e.g. the Mosquitto add-on)."""
        data = await self._call("GET", "/services/mqtt")
        try:
            return MqttService(
                host=str(data["host"]),
                port=int(data["port"]),
                ssl=bool(data.get("ssl", False)),
                username=data.get("username") or None,
                password=data.get("password") or None,
                protocol=str(data.get("protocol") or "3.1.1"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise SupervisorError(
                f"GET /services/mqtt: unexpected data ({type(err).__name__}: {err})"
            ) from None

    async def self_hostname(self) -> str:
        """This add-on's hostname on the hassio network; the container hostname if that fails."""
        try:
            data = await self._call("GET", "/addons/self/info")
            hostname = data.get("hostname")
            if isinstance(hostname, str) and hostname:
                return hostname
            _LOGGER.warning("Supervisor add-on info has no hostname; using the container hostname")
        except SupervisorError as err:
            _LOGGER.warning(
                "Cannot read this add-on's hostname from the Supervisor (%s); using the container hostname",
                err,
            )
        return socket.gethostname()

    async def announce(self, config: Mapping[str, Any], service: str = DISCOVERY_SERVICE) -> str:
        """Send a discovery message to Home Assistant through the Supervisor; returns its uuid."""
        data = await self._call("POST", "/discovery", {"service": service, "config": dict(config)})
        uuid = data.get("uuid")
        if not isinstance(uuid, str) or not uuid:
            raise SupervisorError("POST /discovery: answer has no uuid")
        return uuid

    async def _call(
        self, method: str, path: str, payload: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """One request; returns the `data` object or raises SupervisorError (never leaks the token)."""
        what = f"{method} {path}"
        try:
            async with self._session.request(
                method,
                self._base_url + path,
                json=payload,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=self._timeout,
            ) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
                status = resp.status
        except TimeoutError:
            raise SupervisorError(f"{what}: timed out after {self._timeout.total:g}s") from None
        except aiohttp.ClientError as err:
            raise SupervisorError(f"{what}: {type(err).__name__}: {err}") from None
        message = body.get("message") if isinstance(body, dict) else None
        if status >= 400:
            raise SupervisorError(f"{what}: HTTP {status}" + (f": {message}" if message else ""))
        if not isinstance(body, dict) or body.get("result") != "ok":
            raise SupervisorError(
                f"{what}: unexpected answer" + (f": {message}" if message else "")
            )
        data = body.get("data", {})
        if not isinstance(data, dict):
            raise SupervisorError(f"{what}: `data` is not an object")
        return data
