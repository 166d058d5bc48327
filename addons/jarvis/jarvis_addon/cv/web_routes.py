"""`/api/v1/cv/...` on the add-on's HTTP API: the monitors' state, live view and event timeline.

GET /api/v1/cv/cameras                              every camera: monitor state + latest frame info
GET /api/v1/cv/cameras/{id}                         one camera
GET /api/v1/cv/cameras/{id}/live                    the latest frame's number, level, score, box
GET /api/v1/cv/cameras/{id}/frame.jpg               the latest frame with the detection drawn on it
GET /api/v1/cv/cameras/{id}/stream.mjpg             the same as MJPEG (multipart/x-mixed-replace)
GET /api/v1/cv/cameras/{id}/events                  the camera's warning/failure events, newest first
GET /api/v1/cv/cameras/{id}/evidence/{name}         an evidence snapshot named by one of its events
GET /api/v1/cv/events                               every camera's events, newest first

The bearer token is checked by web.require_token (ingress requests are trusted); an unknown
camera is a 404 naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, Final

from aiohttp import hdrs, web

from .live import AnnotatedCache, live_info
from .monitor import CameraMonitor, CvService

CV_KEY: Final = web.AppKey("jarvis_cv", CvService)
CACHE_KEY: Final = web.AppKey("jarvis_cv_frames", AnnotatedCache)
STOPPING_KEY: Final = web.AppKey("jarvis_cv_stopping", asyncio.Event)
STREAM_POLL_S: Final = 0.2  # how often a stream looks for a new frame (the monitor samples ~2 s)
BOUNDARY: Final = "jarvisframe"
NO_STORE: Final[dict[str, str]] = {str(hdrs.CACHE_CONTROL): "no-store"}


def _not_found(error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=404)


def _monitor(request: web.Request) -> CameraMonitor | web.Response:
    service = request.app[CV_KEY]
    camera_id = request.match_info["camera_id"]
    monitor = service.get(camera_id)
    if monitor is None:
        known = ", ".join(m.spec.camera_id for m in service.monitors) or "none"
        return _not_found("unknown_camera", f"unknown camera {camera_id!r} (known: {known})")
    return monitor


def _evidence_name(event: dict[str, Any]) -> str | None:
    evidence = event.get("evidence")
    if isinstance(evidence, dict) and isinstance(evidence.get("path"), str):
        return Path(evidence["path"]).name
    return None


def _event_view(monitor: CameraMonitor, event: dict[str, Any]) -> dict[str, Any]:
    """An event for the timeline: the MQTT payload plus a relative link to its evidence."""
    name = _evidence_name(event)
    camera = monitor.spec.camera_id
    return {
        **{k: v for k, v in event.items() if k != "evidence"},
        "camera": camera,
        "evidence_url": f"api/v1/cv/cameras/{camera}/evidence/{name}" if name else None,
        "evidence_sha256": event["evidence"]["sha256"] if name else None,
    }


def _events(monitor: CameraMonitor) -> list[dict[str, Any]]:
    return [_event_view(monitor, e) for e in reversed(monitor.status.events)]


def _camera(monitor: CameraMonitor) -> dict[str, Any]:
    latest = monitor.latest
    return {
        "id": monitor.spec.camera_id,
        "printer_id": monitor.spec.printer_id,
        "source": monitor.spec.source.description,
        **monitor.status.as_dict(),
        "live": live_info(latest) if latest else None,
        "frame_url": f"api/v1/cv/cameras/{monitor.spec.camera_id}/frame.jpg",
        "stream_url": f"api/v1/cv/cameras/{monitor.spec.camera_id}/stream.mjpg",
    }


async def list_cameras(request: web.Request) -> web.Response:
    """Every watched camera."""
    return web.json_response({"cameras": [_camera(m) for m in request.app[CV_KEY].monitors]})


async def get_camera(request: web.Request) -> web.Response:
    """One camera."""
    monitor = _monitor(request)
    return monitor if isinstance(monitor, web.Response) else web.json_response(_camera(monitor))


async def get_live(request: web.Request) -> web.Response:
    """The latest frame's number and verdict (the page polls this, then loads frame.jpg)."""
    monitor = _monitor(request)
    if isinstance(monitor, web.Response):
        return monitor
    latest = monitor.latest
    body: dict[str, Any] = {"state": monitor.status.state.value, "reason": monitor.status.reason}
    body["live"] = live_info(latest) if latest else None
    return web.json_response(body, headers=NO_STORE)


async def get_frame(request: web.Request) -> web.Response:
    """The latest frame, annotated; 404 while the camera has not given a good frame yet."""
    monitor = _monitor(request)
    if isinstance(monitor, web.Response):
        return monitor
    latest = monitor.latest
    if latest is None:
        return _not_found(
            "no_frame", f"camera {monitor.spec.camera_id!r} has no frame yet (no job watched)"
        )
    data = await asyncio.to_thread(request.app[CACHE_KEY].get, monitor.spec.camera_id, latest)
    return web.Response(
        body=data,
        content_type="image/jpeg",
        headers={**NO_STORE, "X-Frame-Index": str(latest.index)},
    )


async def stream(request: web.Request) -> web.StreamResponse:
    """MJPEG: a part per new frame until the client goes away or the add-on stops."""
    monitor = _monitor(request)
    if isinstance(monitor, web.Response):
        return monitor
    response = web.StreamResponse(
        headers={
            str(hdrs.CONTENT_TYPE): f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            **NO_STORE,
        }
    )
    await response.prepare(request)
    stopping = request.app[STOPPING_KEY]
    sent = -1
    with contextlib.suppress(ConnectionResetError):
        while not stopping.is_set():
            latest = monitor.latest
            if latest is not None and latest.index != sent:
                data = await asyncio.to_thread(
                    request.app[CACHE_KEY].get, monitor.spec.camera_id, latest
                )
                await response.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n".encode()
                    + data
                    + b"\r\n"
                )
                sent = latest.index
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), STREAM_POLL_S)
    return response


async def camera_events(request: web.Request) -> web.Response:
    """One camera's timeline."""
    monitor = _monitor(request)
    if isinstance(monitor, web.Response):
        return monitor
    return web.json_response({"events": _events(monitor)}, headers=NO_STORE)


async def all_events(request: web.Request) -> web.Response:
    """Every camera's timeline, merged, newest first."""
    events = [e for m in request.app[CV_KEY].monitors for e in _events(m)]
    events.sort(key=lambda e: str(e.get("time") or ""), reverse=True)
    return web.json_response({"events": events}, headers=NO_STORE)


async def evidence(request: web.Request) -> web.StreamResponse:
    """An evidence snapshot, only if one of the camera's events names it (nothing else on disk)."""
    monitor = _monitor(request)
    if isinstance(monitor, web.Response):
        return monitor
    name = request.match_info["name"]
    for event in monitor.status.events:
        if _evidence_name(event) == name:
            path = Path(event["evidence"]["path"])
            if await asyncio.to_thread(path.is_file):
                return web.FileResponse(path, headers={hdrs.CONTENT_TYPE: "image/jpeg"})
            return _not_found("evidence_gone", f"evidence {name!r} is no longer on disk")
    return _not_found(
        "unknown_evidence", f"camera {monitor.spec.camera_id!r} has no evidence {name!r}"
    )


async def _on_shutdown(app: web.Application) -> None:
    app[STOPPING_KEY].set()  # end open MJPEG streams so the server can close


def add_routes(app: web.Application, service: CvService, prefix: str) -> None:
    """Register the CV routes under prefix (`/api/v1`)."""
    app[CV_KEY] = service
    app[CACHE_KEY] = AnnotatedCache()
    app[STOPPING_KEY] = asyncio.Event()
    app.on_shutdown.append(_on_shutdown)
    base = f"{prefix}/cv/cameras"
    app.router.add_get(base, list_cameras)
    app.router.add_get(base + "/{camera_id}", get_camera)
    app.router.add_get(base + "/{camera_id}/live", get_live)
    app.router.add_get(base + "/{camera_id}/frame.jpg", get_frame)
    app.router.add_get(base + "/{camera_id}/stream.mjpg", stream)
    app.router.add_get(base + "/{camera_id}/events", camera_events)
    app.router.add_get(base + "/{camera_id}/evidence/{name}", evidence)
    app.router.add_get(f"{prefix}/cv/events", all_events)
