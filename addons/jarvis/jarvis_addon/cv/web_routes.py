"""`/api/v1/cv/...` on the add-on's HTTP API (bearer token checked by web.require_token).

GET /api/v1/cv/monitors                every camera monitor's state (state, reason, counters,
                                       last event), in the order of the options
GET /api/v1/cv/monitors/{camera_id}    one camera's; 404 `unknown_camera`
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from .monitor import CvService

CV_KEY: Final = web.AppKey("jarvis_cv", CvService)


async def list_monitors(request: web.Request) -> web.Response:
    """Every camera monitor, in the order of the options."""
    status = request.app[CV_KEY].status()
    return web.json_response({"monitors": [{"id": cam, **state} for cam, state in status.items()]})


async def get_monitor(request: web.Request) -> web.Response:
    """One camera monitor's state; 404 naming the camera if there is none."""
    camera_id = request.match_info["camera_id"]
    status = request.app[CV_KEY].status().get(camera_id)
    if status is None:
        return web.json_response(
            {"error": "unknown_camera", "message": f"no camera {camera_id!r} is configured"},
            status=404,
        )
    return web.json_response({"id": camera_id, **status})


def add_routes(app: web.Application, service: CvService, prefix: str) -> None:
    """Register the routes on the add-on's app."""
    app[CV_KEY] = service
    app.router.add_get(f"{prefix}/cv/monitors", list_monitors)
    app.router.add_get(f"{prefix}/cv/monitors/{{camera_id}}", get_monitor)
