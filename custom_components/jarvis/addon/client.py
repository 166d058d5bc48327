"""HTTP client for the add-on's `/api/v1` API.

Pure aiohttp, no Home Assistant imports: the caller passes the session (HA's shared
one inside HA) so connection pooling and SSL setup stay HA's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import ipaddress
import re
from typing import Any

import aiohttp
from yarl import URL

DEFAULT_TIMEOUT = 10.0
_HOST = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class AddonError(Exception):
    """Base class for add-on client errors."""


class AddonUrlError(AddonError):
    """The URL cannot address an add-on (scheme, host or form is wrong)."""


class AddonConnectionError(AddonError):
    """The add-on could not be reached, or timed out."""


class AddonAuthError(AddonError):
    """The add-on rejected the API token."""


class AddonResponseError(AddonError):
    """The add-on answered, but not with what its API promises."""


def normalize_url(raw: str) -> str:
    """Validate a user-typed add-on URL and return it without a trailing slash.

    Accepts `host:port` for convenience and assumes http, since the add-on is reached
    on the local (Supervisor or loopback) network.
    """
    text = raw.strip()
    if not text:
        raise AddonUrlError("empty URL")
    if "://" not in text:
        text = f"http://{text}"
    try:
        url = URL(text)
    except ValueError as err:
        raise AddonUrlError(str(err)) from err
    try:
        port = url.port  # yarl raises on a non-numeric or out-of-range port
    except ValueError as err:
        raise AddonUrlError(str(err)) from err
    if url.scheme not in ("http", "https") or not url.host or port is None:
        raise AddonUrlError(f"not an http(s) URL with a host: {raw!r}")
    if not _HOST.fullmatch(url.host) and not _is_ip(url.host):
        raise AddonUrlError(f"not a valid host name: {url.host!r}")
    if url.query_string or url.fragment or url.user:
        raise AddonUrlError("URL must not carry a query, fragment or credentials")
    return str(url).rstrip("/")


@dataclass(frozen=True, slots=True)
class AddonHealth:
    """What `GET /api/v1/health` reports."""

    version: str
    instance_id: str
    mqtt_connected: bool
    mqtt_reconnects: int
    uptime_s: float
    authenticated: bool
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, data: Any) -> AddonHealth:
        """Parse and check a health document; raise AddonResponseError if it is not one."""
        if not isinstance(data, dict) or data.get("app") != "jarvis" or data.get("status") != "ok":
            raise AddonResponseError("not a Jarvis add-on health response")
        mqtt = data.get("mqtt")
        try:
            return cls(
                version=str(data["version"]),
                instance_id=str(data["instance_id"]),
                mqtt_connected=bool(mqtt["connected"]),  # type: ignore[index]
                mqtt_reconnects=int(mqtt["reconnects"]),  # type: ignore[index]
                uptime_s=float(data["uptime_s"]),
                authenticated=bool(data["authenticated"]),
                raw=data,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise AddonResponseError(f"malformed health response: {err}") from err


class AddonClient:
    """Talks to one add-on instance."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        api_token: str,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Address the add-on at url (validated here) with its API token."""
        self._session = session
        self.url = normalize_url(url)
        self._token = api_token
        self._timeout = timeout

    async def _get_json(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            async with asyncio.timeout(self._timeout):
                async with self._session.get(f"{self.url}{path}", headers=headers) as resp:
                    if resp.status == 401:
                        raise AddonAuthError("the add-on rejected the API token")
                    if resp.status != 200:
                        raise AddonResponseError(f"HTTP {resp.status} from {path}")
                    try:
                        return await resp.json(content_type=None)
                    except ValueError as err:
                        raise AddonResponseError(f"{path} did not return JSON") from err
        except TimeoutError as err:
            raise AddonConnectionError(f"timed out after {self._timeout}s") from err
        except aiohttp.ClientError as err:
            raise AddonConnectionError(str(err) or type(err).__name__) from err

    async def health(self) -> AddonHealth:
        """Fetch health; the token is checked too (health reports whether it was accepted)."""
        return AddonHealth.from_json(await self._get_json("/api/v1/health"))

    async def verify(self) -> AddonHealth:
        """Health plus a hard failure when the token was not accepted."""
        health = await self.health()
        if not health.authenticated:
            raise AddonAuthError("the add-on did not accept the API token")
        return health

    async def post_json(
        self, path: str, body: Any, limit_s: float | None = None
    ) -> tuple[int, Any]:
        """POST JSON, return (status, parsed body); 401 raises AddonAuthError, non-JSON AddonResponseError."""
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        limit = self._timeout if limit_s is None else limit_s
        try:
            async with asyncio.timeout(limit):
                async with self._session.post(
                    f"{self.url}{path}", json=body, headers=headers
                ) as resp:
                    if resp.status == 401:
                        raise AddonAuthError("the add-on rejected the API token")
                    try:
                        return resp.status, await resp.json(content_type=None)
                    except ValueError as err:
                        raise AddonResponseError(f"{path} did not return JSON") from err
        except TimeoutError as err:
            raise AddonConnectionError(f"timed out after {limit}s") from err
        except aiohttp.ClientError as err:
            raise AddonConnectionError(str(err) or type(err).__name__) from err
