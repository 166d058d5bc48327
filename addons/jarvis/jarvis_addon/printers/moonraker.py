"""Moonraker client (Klipper): HTTP for commands and uploads, websocket JSON-RPC for status pushes.

Docs: https://moonraker.readthedocs.io/en/latest/external_api/ . Mapped errors: 401/403 ->
PrinterAuthError, 503 (and 404 for Klippy-registered endpoints while Klipper is away) ->
PrinterOfflineError, 400 -> PrinterConflictError/PrinterRequestError.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any, Final
from urllib.parse import quote, urljoin

import aiohttp

from .. import __version__
from .base import (
    STATE_ERROR,
    STATE_IDLE,
    STATE_OFFLINE,
    STATE_PAUSED,
    STATE_PRINTING,
    ChangeCallback,
    PrinterAuthError,
    PrinterConflictError,
    PrinterError,
    PrinterOfflineError,
    PrinterRequestError,
    PrinterStatus,
    PrinterUnreachableError,
    Temperature,
)
from .http import request_text

_LOGGER = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 10.0
UPLOAD_TIMEOUT: Final = 120.0
# The objects (and fields) the status is built from.
STATUS_OBJECTS: Final[dict[str, list[str] | None]] = {
    "webhooks": ["state", "state_message"],
    "print_stats": ["state", "filename", "print_duration", "message"],
    "virtual_sdcard": ["progress", "is_active"],
    "extruder": ["temperature", "target"],
    "heater_bed": ["temperature", "target"],
}
# print_stats.state -> ours; standby/complete/cancelled are all "idle" for the printer.
_JOB_STATE: Final = {
    "printing": STATE_PRINTING,
    "paused": STATE_PAUSED,
    "error": STATE_ERROR,
}
_KLIPPY_ENDPOINTS: Final = ("/printer/",)


class MoonrakerClient:
    """One Moonraker instance; `session` is shared and owned by the caller."""

    kind = "moonraker"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Nothing is contacted before the first call."""
        self._session = session
        self.url = url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._ids = itertools.count(1)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        limit: float | None = None,
    ) -> Any:
        """One HTTP call; returns the `result` member; raises a PrinterError."""
        text = await request_text(
            self._session,
            "Moonraker",
            self.url,
            method,
            path,
            api_key=self._api_key,
            limit_s=limit or self._timeout,
            error_for=lambda status, body: _error_for(status, body, path),
            json_body=json_body,
            data=data,
        )
        return json.loads(text).get("result") if text.strip() else None

    async def server_info(self) -> dict[str, Any]:
        """`GET /server/info` (klippy_connected, klippy_state)."""
        result: dict[str, Any] = await self._request("GET", "/server/info")
        return result

    async def status(self) -> PrinterStatus:
        """Klipper's objects; Klipper away -> offline (Moonraker itself answered)."""
        try:
            result = await self._request(
                "POST", "/printer/objects/query", json_body={"objects": STATUS_OBJECTS}
            )
        except PrinterOfflineError as err:
            return PrinterStatus(state=STATE_OFFLINE, message=str(err))
        return status_from_objects(result.get("status") or {})

    async def connect(self) -> None:
        """Klipper connects by itself; a FIRMWARE_RESTART recovers it from shutdown."""
        await self._request("POST", "/printer/firmware_restart")

    async def upload(self, filename: str, data: bytes) -> str:
        """Multipart upload to the gcodes root; 201 -> the stored path."""
        form = aiohttp.FormData()
        form.add_field("file", data, filename=filename, content_type="application/octet-stream")
        form.add_field("root", "gcodes")
        result = await self._request(
            "POST", "/server/files/upload", data=form, limit=UPLOAD_TIMEOUT
        )
        # Moonraker answers {item: {path, root}, ...} (some versions without the result wrapper).
        item = (result or {}).get("item") or {}
        return str(item.get("path") or filename)

    async def start(self, filename: str) -> None:
        """Start a stored file."""
        await self._request("POST", f"/printer/print/start?filename={quote(filename)}")

    async def pause(self) -> None:
        """Pause (Klipper's PAUSE macro)."""
        await self._request("POST", "/printer/print/pause")

    async def resume(self) -> None:
        """Resume."""
        await self._request("POST", "/printer/print/resume")

    async def cancel(self) -> None:
        """Cancel."""
        await self._request("POST", "/printer/print/cancel")

    async def preheat(self, tool: float | None, bed: float | None) -> None:
        """M104/M140: set targets without waiting."""
        lines = []
        if tool is not None:
            lines.append(f"M104 S{tool:g}")
        if bed is not None:
            lines.append(f"M140 S{bed:g}")
        if lines:
            await self.gcode(lines)

    async def gcode(self, commands: list[str]) -> None:
        """Raw G-code through gcode/script."""
        await self._request("POST", f"/printer/gcode/script?script={quote(chr(10).join(commands))}")

    async def snapshot_url(self) -> str | None:
        """The first webcam's snapshot URL (made absolute: Moonraker may give a relative one)."""
        result = await self._request("GET", "/server/webcams/list")
        for cam in (result or {}).get("webcams") or []:
            if cam.get("enabled", True) and cam.get("snapshot_url"):
                return urljoin(self.url + "/", str(cam["snapshot_url"]))
        return None

    async def watch(self, on_change: ChangeCallback) -> None:
        """Websocket JSON-RPC: identify with the key, subscribe to the status objects, follow pushes."""
        ws_url = self.url.replace("http", "ws", 1) + "/websocket"
        try:
            async with self._session.ws_connect(
                ws_url, timeout=aiohttp.ClientWSTimeout(ws_close=self._timeout), heartbeat=30
            ) as ws:
                await ws.send_json(
                    self._rpc(
                        "server.connection.identify",
                        {
                            "client_name": "jarvis",
                            "version": __version__,
                            "type": "agent",
                            "url": "https://github.com/jarvis-workshop/jarvis",
                            "api_key": self._api_key,
                        },
                    )
                )
                await ws.send_json(
                    self._rpc("printer.objects.subscribe", {"objects": STATUS_OBJECTS})
                )
                on_change()
                async for msg in ws:
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        break
                    payload = json.loads(msg.data)
                    if not isinstance(payload, dict):
                        continue
                    if "error" in payload:
                        error = payload["error"] or {}
                        if error.get("code") in (401, 403):
                            raise PrinterAuthError(
                                f"Moonraker rejected the API key: {error.get('message')}"
                            )
                        _LOGGER.debug("Moonraker %s RPC error %s", self.url, error)
                        continue
                    method = payload.get("method", "")
                    if method.startswith("notify_"):
                        if method in ("notify_klippy_ready", "notify_klippy_disconnected"):
                            # A new Klipper session needs a new subscription.
                            await ws.send_json(
                                self._rpc("printer.objects.subscribe", {"objects": STATUS_OBJECTS})
                            )
                        on_change()
        except aiohttp.ClientError as err:
            raise PrinterUnreachableError(f"Moonraker websocket at {ws_url}: {err}") from None
        raise PrinterUnreachableError(f"Moonraker websocket at {ws_url} closed")

    def _rpc(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "method": method, "params": params, "id": next(self._ids)}

    async def close(self) -> None:
        """Nothing of its own to close (the session is the caller's)."""


def status_from_objects(status: dict[str, Any]) -> PrinterStatus:
    """PrinterStatus from Klipper's objects (pure)."""
    webhooks = status.get("webhooks") or {}
    stats = status.get("print_stats") or {}
    sdcard = status.get("virtual_sdcard") or {}
    klippy = webhooks.get("state", "ready")
    if klippy != "ready":
        return PrinterStatus(
            state=STATE_ERROR if klippy == "shutdown" else STATE_OFFLINE,
            message=f"Klipper {klippy}: {webhooks.get('state_message', '')}".strip(),
        )
    job_state = str(stats.get("state") or "standby")
    state = _JOB_STATE.get(job_state, STATE_IDLE)
    temperatures = {
        name: Temperature(obj.get("temperature"), obj.get("target"))
        for name, obj in (("tool0", status.get("extruder")), ("bed", status.get("heater_bed")))
        if isinstance(obj, dict)
    }
    progress = sdcard.get("progress")
    duration = stats.get("print_duration")
    left = None
    if progress and duration and 0 < progress < 1:
        left = round(duration / progress - duration, 1)
    active = state in (STATE_PRINTING, STATE_PAUSED)
    return PrinterStatus(
        state=state,
        message=job_state,
        temperatures=temperatures,
        file=stats.get("filename") or None if active else None,
        progress=round(float(progress) * 100, 2) if progress is not None else None,
        print_time_s=duration,
        time_left_s=left,
    )


def _error_for(status: int, text: str, path: str) -> PrinterError:
    message = text.strip()[:200]
    try:
        body = json.loads(text)
        message = str((body.get("error") or {}).get("message") or message)
    except (ValueError, AttributeError):
        pass
    if status in (401, 403):
        return PrinterAuthError(f"Moonraker rejected the API key ({status}): {message}")
    if status == 503 or (status == 404 and path.startswith(_KLIPPY_ENDPOINTS)):
        return PrinterOfflineError(f"Klipper is not connected (Moonraker {status}): {message}")
    if status == 400:
        return PrinterConflictError(f"Moonraker refused it (400): {message}")
    return PrinterRequestError(f"Moonraker answered {status} to {path}: {message}")
