"""Build the CV monitor from the add-on options: sources per camera, one monitor per camera.

Entry point for the app: `build_cv_service(settings, session, printers, publisher, ...)`, then
`service.start()` (subscribes to the printer link's job events) and `await service.stop()`.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from pathlib import Path
from typing import Final

import aiohttp

from ..cameras.base import FrameSource
from ..cameras.http_sources import SUPERVISOR_CORE_URL, HaCameraSource, UrlSnapshotSource
from ..cameras.opencv_source import OpenCvStreamSource
from ..settings import Settings
from .config import CameraOptions
from .monitor import CameraMonitor, CameraSpec, CvService, EventPublisher, PrinterLink

_LOGGER = logging.getLogger(__name__)

DEFAULT_EVIDENCE_DIR: Final = Path("/share/jarvis/cv")


class CvSetupError(Exception):
    """A configured camera cannot be set up (e.g. no token to reach Home Assistant)."""


def build_source(
    cam: CameraOptions,
    settings: Settings,
    session: aiohttp.ClientSession,
    environ: Mapping[str, str],
    unifi_client: object | None = None,
) -> FrameSource:
    """The frame source for one camera option."""
    if cam.source == "ha" and cam.entity_id:
        token = settings.ha_token or environ.get("SUPERVISOR_TOKEN")
        if not token:
            raise CvSetupError(
                f"camera {cam.id}: source ha needs SUPERVISOR_TOKEN (add-on) or ha_url + ha_token"
            )
        base = settings.ha_url or SUPERVISOR_CORE_URL
        return HaCameraSource(session, cam.entity_id, token, base_url=base)
    if cam.source == "url" and cam.url:
        if cam.url.startswith(("rtsp://", "rtsps://")):
            return OpenCvStreamSource(cam.url)
        return UrlSnapshotSource(session, cam.url)
    from ..cameras.unifi import UnifiProtectSource

    if unifi_client is None or cam.unifi_camera_id is None:
        raise CvSetupError(f"camera {cam.id}: UniFi Protect is not configured")
    return UnifiProtectSource(unifi_client, cam.unifi_camera_id)  # type: ignore[arg-type]


def make_unifi_client(settings: Settings, session: aiohttp.ClientSession) -> object | None:
    """One ProtectApiClient for every unifi camera, or None when none is configured."""
    if not any(c.source == "unifi" for c in settings.cameras) or settings.unifi_host is None:
        return None
    from uiprotect import ProtectApiClient

    return ProtectApiClient(
        settings.unifi_host,
        settings.unifi_port,
        settings.unifi_username or "",
        settings.unifi_password or "",
        api_key=settings.unifi_api_key,
        verify_ssl=settings.unifi_verify_ssl,
        session=session,
        store_sessions=False,  # no session file outside /data; a login per restart is fine
    )


def build_cv_service(
    settings: Settings,
    session: aiohttp.ClientSession,
    printers: PrinterLink,
    publisher: EventPublisher,
    *,
    evidence_dir: Path = DEFAULT_EVIDENCE_DIR,
    environ: Mapping[str, str] | None = None,
) -> CvService:
    """A CvService with one monitor per configured camera (not started)."""
    env = environ or {}
    unifi = make_unifi_client(settings, session)
    monitors = []
    for cam in settings.cameras:
        source = build_source(cam, settings, session, env, unifi)
        spec = CameraSpec(cam.id, cam.printer, source, cam.region, cam.failure_scene)
        monitors.append(
            CameraMonitor(spec, printers, publisher, evidence_dir, interval=settings.cv_interval)
        )
        _LOGGER.info(
            "CV: camera %s watches printer %s via %s", cam.id, cam.printer, source.description
        )
    return CvService(monitors, printers)
