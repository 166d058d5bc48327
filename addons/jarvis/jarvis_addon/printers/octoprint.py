"""OctoPrint client: REST with an API key, the app-key flow, and push events over SockJS's websocket.

Docs: https://docs.octoprint.org/en/1.11.7/api/ . Status codes mapped onto base's errors:
403 -> PrinterAuthError (a bad key makes the request anonymous), 409 -> PrinterOfflineError when
the printer is not operational, or PrinterConflictError for job commands without a job.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Final
from urllib.parse import quote

import aiohttp

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
# OctoPrint's job states (octoprint.printer.PrinterInterface.get_state_string) -> ours.
_STATE_MAP: Final = {
    "operational": STATE_IDLE,
    "printing": STATE_PRINTING,
    "starting": STATE_PRINTING,
    "printing from sd": STATE_PRINTING,
    "starting print from sd": STATE_PRINTING,
    "sending file to sd": STATE_PRINTING,
    "pausing": STATE_PAUSED,
    "paused": STATE_PAUSED,
    "resuming": STATE_PRINTING,
    "cancelling": STATE_PRINTING,
    "finishing": STATE_PRINTING,
}


class OctoPrintClient:
    """One OctoPrint instance; `session` is shared and owned by the caller."""

    kind = "octoprint"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        api_key: str,
        *,
        serial_port: str | None = None,
        baudrate: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Nothing is contacted before the first call."""
        self._session = session
        self.url = url.rstrip("/")
        self._api_key = api_key
        self._serial_port = serial_port
        self._baudrate = baudrate
        self._timeout = timeout

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        limit: float | None = None,
        job: bool = False,
    ) -> Any:
        """One REST call; returns decoded JSON (or None for 204); raises a PrinterError."""
        text = await request_text(
            self._session,
            "OctoPrint",
            self.url,
            method,
            path,
            api_key=self._api_key,
            limit_s=limit or self._timeout,
            error_for=lambda status, body: _error_for(status, body, path, job=job),
            json_body=json_body,
            data=data,
        )
        return json.loads(text) if text.strip() else None

    async def version(self) -> dict[str, Any]:
        """`GET /api/version` (checks the key too)."""
        result: dict[str, Any] = await self._request("GET", "/api/version")
        return result

    async def status(self) -> PrinterStatus:
        """State from /api/job, temperatures from /api/printer (409 there = printer offline)."""
        job = await self._request("GET", "/api/job")
        state_text = str(job.get("state") or "")
        state = _STATE_MAP.get(state_text.lower())
        if state is None:
            low = state_text.lower()
            state = STATE_ERROR if "error" in low else STATE_OFFLINE
        temperatures: dict[str, Temperature] = {}
        if state != STATE_OFFLINE:
            try:
                printer = await self._request("GET", "/api/printer?history=false")
            except PrinterOfflineError:
                state = STATE_OFFLINE
            else:
                for name, temp in (printer.get("temperature") or {}).items():
                    if isinstance(temp, dict) and "actual" in temp:
                        temperatures[name] = Temperature(temp.get("actual"), temp.get("target"))
        progress = job.get("progress") or {}
        file_info = (job.get("job") or {}).get("file") or {}
        completion = progress.get("completion")
        return PrinterStatus(
            state=state,
            message=state_text,
            temperatures=temperatures,
            file=file_info.get("name") if state in (STATE_PRINTING, STATE_PAUSED) else None,
            progress=round(float(completion), 2) if completion is not None else None,
            print_time_s=progress.get("printTime"),
            time_left_s=progress.get("printTimeLeft"),
        )

    async def connect(self) -> None:
        """Connect OctoPrint to its serial port (the configured one, else OctoPrint's default)."""
        body: dict[str, Any] = {"command": "connect", "save": False, "autoconnect": False}
        if self._serial_port:
            body["port"] = self._serial_port
        if self._baudrate:
            body["baudrate"] = self._baudrate
        await self._request("POST", "/api/connection", json_body=body)

    async def upload(self, filename: str, data: bytes) -> str:
        """Multipart upload to local storage; 201 -> the stored path."""
        form = aiohttp.FormData()
        form.add_field("file", data, filename=filename, content_type="application/octet-stream")
        form.add_field("select", "false")
        form.add_field("print", "false")
        result = await self._request("POST", "/api/files/local", data=form, limit=UPLOAD_TIMEOUT)
        local = ((result or {}).get("files") or {}).get("local") or {}
        return str(local.get("path") or filename)

    async def start(self, filename: str) -> None:
        """Select and print a stored file."""
        await self._request(
            "POST",
            f"/api/files/local/{quote(filename)}",
            json_body={"command": "select", "print": True},
            job=True,
        )

    async def pause(self) -> None:
        """Always with `action`: without it OctoPrint toggles."""
        await self._request(
            "POST", "/api/job", json_body={"command": "pause", "action": "pause"}, job=True
        )

    async def resume(self) -> None:
        """Resume a paused job."""
        await self._request(
            "POST", "/api/job", json_body={"command": "pause", "action": "resume"}, job=True
        )

    async def cancel(self) -> None:
        """Cancel the job."""
        await self._request("POST", "/api/job", json_body={"command": "cancel"}, job=True)

    async def preheat(self, tool: float | None, bed: float | None) -> None:
        """Tool and bed targets."""
        if tool is not None:
            await self._request(
                "POST",
                "/api/printer/tool",
                json_body={"command": "target", "targets": {"tool0": tool}},
            )
        if bed is not None:
            await self._request(
                "POST", "/api/printer/bed", json_body={"command": "target", "target": bed}
            )

    async def gcode(self, commands: list[str]) -> None:
        """Raw G-code."""
        await self._request("POST", "/api/printer/command", json_body={"commands": commands})

    async def snapshot_url(self) -> str | None:
        """OctoPrint 1.x has no snapshot endpoint: the webcam settings name the URL."""
        settings = await self._request("GET", "/api/settings")
        webcam = (settings or {}).get("webcam") or {}
        url = webcam.get("snapshotUrl")
        if not webcam.get("webcamEnabled", True) or not url:
            return None
        return str(url)

    async def watch(self, on_change: ChangeCallback) -> None:
        """Passive login, then the SockJS raw websocket; every `event` message calls on_change."""
        login = await self._request("POST", "/api/login", json_body={"passive": True})
        auth = f"{login['name']}:{login['session']}"
        ws_url = self.url.replace("http", "ws", 1) + "/sockjs/websocket"
        try:
            async with self._session.ws_connect(
                ws_url, timeout=aiohttp.ClientWSTimeout(ws_close=self._timeout), heartbeat=30
            ) as ws:
                await ws.send_json({"auth": auth})
                await ws.send_json({"throttle": 2})
                on_change()  # connected: whatever happened before is worth a fresh look
                async for msg in ws:
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        break
                    payload = json.loads(msg.data)
                    if isinstance(payload, dict) and "event" in payload:
                        _LOGGER.debug(
                            "OctoPrint %s event %s", self.url, payload["event"].get("type")
                        )
                        on_change()
        except aiohttp.ClientError as err:
            raise PrinterUnreachableError(f"OctoPrint push channel at {ws_url}: {err}") from None
        raise PrinterUnreachableError(f"OctoPrint push channel at {ws_url} closed")

    async def close(self) -> None:
        """Nothing of its own to close (the session is the caller's)."""


def _error_for(status: int, text: str, path: str, *, job: bool) -> PrinterError:
    detail = _detail(text)
    # A bad key makes the request anonymous: GETs get 403, POSTs fail OctoPrint's CSRF check (400).
    if status in (401, 403) or (status == 400 and "CSRF" in detail):
        return PrinterAuthError(
            f"OctoPrint rejected the API key ({status}); create a new one (app key or user key)"
        )
    if status == 409:
        if job and "not operational" not in detail.lower():
            return PrinterConflictError(
                f"OctoPrint refused it in the current state (409): {detail}"
            )
        return PrinterOfflineError(f"the printer is not operational (OctoPrint 409): {detail}")
    if status == 404:
        return PrinterRequestError(f"OctoPrint has no {path} (404): {detail}")
    return PrinterRequestError(f"OctoPrint answered {status} to {path}: {detail}")


def _detail(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:200]
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)[:200]
    return str(body)[:200]


async def request_app_key(
    session: aiohttp.ClientSession,
    url: str,
    app: str,
    *,
    user: str | None = None,
    poll_interval: float = 1.0,
    approval_timeout: float = 300.0,
    on_pending: ChangeCallback | None = None,
) -> str:
    """OctoPrint's app-key flow: probe, request, poll until the user decides in OctoPrint's UI.

    Raises PrinterAuthError when denied or expired, PrinterUnreachableError on network failure,
    PrinterRequestError when the appkeys plugin is missing (probe not 204) or rate-limited.
    """
    base = url.rstrip("/")
    http_timeout = aiohttp.ClientTimeout(total=DEFAULT_TIMEOUT)
    try:
        async with session.get(f"{base}/plugin/appkeys/probe", timeout=http_timeout) as resp:
            if resp.status != 204:
                raise PrinterRequestError(
                    f"OctoPrint at {base} does not offer app keys (probe answered {resp.status})"
                )
        body: dict[str, Any] = {"app": app}
        if user:
            body["user"] = user
        async with session.post(
            f"{base}/plugin/appkeys/request", json=body, timeout=http_timeout
        ) as resp:
            if resp.status == 429:
                raise PrinterRequestError("OctoPrint rate-limits app-key requests; try again later")
            if resp.status != 201:
                raise PrinterRequestError(f"app-key request answered {resp.status}")
            app_token = (await resp.json())["app_token"]
        if on_pending:
            on_pending()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + approval_timeout
        while loop.time() < deadline:
            async with session.get(
                f"{base}/plugin/appkeys/request/{app_token}", timeout=http_timeout
            ) as resp:
                if resp.status == 200:
                    return str((await resp.json())["api_key"])
                if resp.status == 404:
                    raise PrinterAuthError(f"the app-key request for {app!r} was denied or expired")
            await asyncio.sleep(poll_interval)
    except (TimeoutError, aiohttp.ClientError) as err:
        raise PrinterUnreachableError(f"OctoPrint at {base} is unreachable: {err}") from None
    raise PrinterAuthError(
        f"nobody approved the app key for {app!r} within {approval_timeout:.0f} s"
    )
