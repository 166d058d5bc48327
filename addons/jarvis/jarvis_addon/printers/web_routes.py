"""`/api/v1/printers/...` on the add-on's HTTP API (bearer token checked by web.require_token).

GET  /api/v1/printers                    every printer's last state
GET  /api/v1/printers/{id}               one printer's state, refreshed now
GET  /api/v1/printers/{id}/jobs          job history (?limit=1-200)
POST /api/v1/printers/{id}/command       {command, args} -> {ok, result} (same commands as MQTT)
GET  /api/v1/printers/{id}/snapshot      the webcam's JPEG
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from .manager import CommandError, PrinterManager

PRINTERS_KEY: Final = web.AppKey("jarvis_printers", PrinterManager)
_STATUS: Final = {
    "unknown_device": 404,
    "unknown_command": 400,
    "invalid_args": 400,
    "not_gcode": 400,
    "file_not_found": 404,
    "file_too_large": 413,
    "no_webcam": 404,
    "printer_busy": 409,
    "printer_busy_or_idle": 409,
    "printer_offline": 409,
    "printer_rejected": 422,
    "printer_auth_failed": 502,
    "printer_unreachable": 502,
    "webcam_failed": 502,
}


def _error(err: CommandError) -> web.Response:
    return web.json_response(
        {"error": err.code, "message": str(err)}, status=_STATUS.get(err.code, 500)
    )


async def list_printers(request: web.Request) -> web.Response:
    """Every printer's last known state (no printer is contacted)."""
    manager = request.app[PRINTERS_KEY]
    printers = []
    for pid in manager.printer_ids:
        config = manager.config(pid)
        printers.append(
            {"id": pid, "name": config.name, "type": config.type, "state": manager.last_state(pid)}
        )
    return web.json_response({"printers": printers})


async def get_printer(request: web.Request) -> web.Response:
    """Refreshed state of one printer."""
    try:
        return web.json_response(
            await request.app[PRINTERS_KEY].execute(request.match_info["printer_id"], "status", {})
        )
    except CommandError as err:
        return _error(err)


async def printer_jobs(request: web.Request) -> web.Response:
    """Job history, newest first."""
    limit_text = request.query.get("limit", "20")
    if not limit_text.isdigit():
        return web.json_response(
            {"error": "invalid_args", "message": "limit must be an integer 1-200"}, status=400
        )
    try:
        return web.json_response(
            await request.app[PRINTERS_KEY].execute(
                request.match_info["printer_id"], "history", {"limit": int(limit_text)}
            )
        )
    except CommandError as err:
        return _error(err)


async def printer_command(request: web.Request) -> web.Response:
    """Run a command directly (no MQTT): {command, args}."""
    try:
        body: Any = await request.json()
    except ValueError:
        return web.json_response(
            {"error": "invalid_json", "message": "the body is not JSON"}, status=400
        )
    if not isinstance(body, dict) or not isinstance(body.get("command"), str):
        return web.json_response(
            {"error": "invalid_command", "message": 'expected {"command": ..., "args": {...}}'},
            status=400,
        )
    args = body.get("args") or {}
    if not isinstance(args, dict):
        return web.json_response(
            {"error": "invalid_args", "message": "args must be an object"}, status=400
        )
    try:
        result = await request.app[PRINTERS_KEY].execute(
            request.match_info["printer_id"], body["command"], args
        )
    except CommandError as err:
        return _error(err)
    return web.json_response({"ok": True, "result": result})


async def printer_snapshot(request: web.Request) -> web.Response:
    """The webcam's current image."""
    try:
        image = await request.app[PRINTERS_KEY].snapshot(request.match_info["printer_id"])
    except CommandError as err:
        return _error(err)
    return web.Response(body=image, content_type="image/jpeg")


def add_routes(app: web.Application, manager: PrinterManager, prefix: str) -> None:
    """Register the routes on the add-on's app."""
    app[PRINTERS_KEY] = manager
    app.router.add_get(f"{prefix}/printers", list_printers)
    app.router.add_get(f"{prefix}/printers/{{printer_id}}", get_printer)
    app.router.add_get(f"{prefix}/printers/{{printer_id}}/jobs", printer_jobs)
    app.router.add_post(f"{prefix}/printers/{{printer_id}}/command", printer_command)
    app.router.add_get(f"{prefix}/printers/{{printer_id}}/snapshot", printer_snapshot)
