"""Sources reached over HTTP with aiohttp: HA camera entities and any snapshot or MJPEG URL.

HA camera entities go through the Supervisor's Core API proxy,
`http://supervisor/core/api/camera_proxy/<entity_id>` with `Authorization: Bearer
$SUPERVISOR_TOKEN` (the add-on declares `homeassistant_api: true`); the base URL is configurable
so a real HA (`http://host:8123` with a long-lived token) or a loopback server can stand in.
This covers every camera HA knows, UniFi Protect's included.
"""

from __future__ import annotations

import re
from typing import Final

import aiohttp

from .base import DEFAULT_TIMEOUT, MAX_SNAPSHOT_BYTES, CameraAuthError, CameraError

SUPERVISOR_CORE_URL: Final = "http://supervisor/core"
_ENTITY_RE: Final = re.compile(r"^camera\.[a-z0-9_]+$")
_MJPEG_BOUNDARY_RE: Final = re.compile(r"boundary=\"?([^\";]+)\"?", re.IGNORECASE)


async def _read_limited(resp: aiohttp.ClientResponse, what: str) -> bytes:
    data = bytearray()
    async for chunk in resp.content.iter_chunked(65536):
        data += chunk
        if len(data) > MAX_SNAPSHOT_BYTES:
            raise CameraError(f"{what}: snapshot larger than {MAX_SNAPSHOT_BYTES} bytes")
    return bytes(data)


class UrlSnapshotSource:
    """GET a URL that answers with one image (or an MJPEG stream: its first frame is taken)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        label: str | None = None,
    ) -> None:
        """Use the caller's session; `label` replaces the URL in messages (it may hold secrets)."""
        self._session = session
        self._url = url
        self._headers = headers or {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._label = label or _redact_url(url)

    @property
    def description(self) -> str:
        """The URL without credentials."""
        return self._label

    async def snapshot(self) -> bytes:
        """One image; CameraError on any failure (status, timeout, connection, size)."""
        what = self._label
        try:
            async with self._session.get(
                self._url, headers=self._headers, timeout=self._timeout
            ) as resp:
                if resp.status in (401, 403):
                    raise CameraAuthError(f"{what}: HTTP {resp.status} (credentials refused)")
                if resp.status >= 400:
                    raise CameraError(f"{what}: HTTP {resp.status}")
                ctype = resp.headers.get("Content-Type", "")
                if ctype.lower().startswith("multipart/"):
                    return await _first_mjpeg_part(resp, ctype, what)
                return await _read_limited(resp, what)
        except TimeoutError:
            raise CameraError(f"{what}: timed out after {self._timeout.total:g}s") from None
        except aiohttp.ClientError as err:
            raise CameraError(f"{what}: {type(err).__name__}: {err}") from None

    async def close(self) -> None:
        """Nothing to release (the session belongs to the caller)."""


async def _first_mjpeg_part(resp: aiohttp.ClientResponse, ctype: str, what: str) -> bytes:
    """The first JPEG of a multipart/x-mixed-replace stream, then the connection is dropped."""
    if not _MJPEG_BOUNDARY_RE.search(ctype):
        raise CameraError(f"{what}: multipart stream without a boundary")
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(65536):
        buf += chunk
        start = buf.find(b"\xff\xd8")
        if start >= 0:
            end = buf.find(b"\xff\xd9", start + 2)
            if end >= 0:
                return bytes(buf[start : end + 2])
        if len(buf) > MAX_SNAPSHOT_BYTES:
            break
    raise CameraError(f"{what}: no complete JPEG in the MJPEG stream")


class HaCameraSource(UrlSnapshotSource):
    """A Home Assistant camera entity through the Core API's camera proxy."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        entity_id: str,
        token: str,
        *,
        base_url: str = SUPERVISOR_CORE_URL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """`base_url` is the Core API root without `/api` (Supervisor proxy or a real HA)."""
        if not _ENTITY_RE.match(entity_id):
            raise ValueError(f"not a camera entity id: {entity_id!r}")
        super().__init__(
            session,
            f"{base_url.rstrip('/')}/api/camera_proxy/{entity_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            label=f"Home Assistant {entity_id}",
        )


def _redact_url(url: str) -> str:
    # rtsp://user:pass@host/... -> rtsp://***@host/...
    return re.sub(r"//[^/@]*@", "//***@", url)
