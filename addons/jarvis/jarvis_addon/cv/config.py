"""Camera options: a camera per printer, checked beyond what the Supervisor schema can say (pure).

cameras:
  - id: mk4_cam              # [a-z0-9_], unique; used in jarvis/cv/<id>/event
    printer: mk4             # the printer id whose jobs this camera watches
    source: ha               # ha | unifi | url
    entity_id: camera.mk4    # source ha
    unifi_camera_id: 65a...  # source unifi (needs unifi_host and credentials)
    url: rtsp://...          # source url: http(s) snapshot or MJPEG, rtsp(s)://
    region: "0.2,0.3;0.8,0.3;0.8,0.9;0.2,0.9"   # optional print region, 0..1, >= 3 points
    failure_scene: scene.print_failed           # optional, run by the integration on a pause
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import re
from typing import Any, Final
from urllib.parse import urlparse

CAMERA_SCHEMA: Final[dict[str, str]] = {
    "id": "match(^[a-z0-9_]{1,32}$)",
    "printer": "str(1,64)",
    "source": "list(ha|unifi|url)",
    "entity_id": "str?",
    "unifi_camera_id": "str?",
    "url": "str?",
    "region": "str?",
    "failure_scene": "str?",
}
# Top-level options of the CV monitor (merged into settings.SCHEMA).
CV_SCHEMA: Final[dict[str, Any]] = {
    "cameras": [CAMERA_SCHEMA],
    "cv_interval": "float(0.5,60)?",
    "cv_evidence_dir": "str?",
    "ha_url": "url?",
    "ha_token": "password?",
    "unifi_host": "str?",
    "unifi_port": "port?",
    "unifi_username": "str?",
    "unifi_password": "password?",
    "unifi_api_key": "password?",
    "unifi_verify_ssl": "bool?",
}
_ENTITY_RE: Final = re.compile(r"^camera\.[a-z0-9_]+$")
_SCENE_RE: Final = re.compile(r"^scene\.[a-z0-9_]+$")
_URL_SCHEMES: Final = ("http", "https", "rtsp", "rtsps")


@dataclass(frozen=True, slots=True)
class CameraOptions:
    """One validated camera."""

    id: str
    printer: str
    source: str
    entity_id: str | None = None
    unifi_camera_id: str | None = None
    url: str | None = None
    region: tuple[tuple[float, float], ...] | None = None
    failure_scene: str | None = None


def parse_region(text: str) -> tuple[tuple[float, float], ...]:
    """`x,y;x,y;...` in 0..1 -> points; ValueError saying what is wrong."""
    points = []
    for part in text.split(";"):
        try:
            x_s, y_s = part.split(",")
            x, y = float(x_s), float(y_s)
        except ValueError:
            raise ValueError(f"expected 'x,y;x,y;x,y' with numbers, got {part.strip()!r}") from None
        if not (0 <= x <= 1 and 0 <= y <= 1):
            raise ValueError(f"point {x},{y} is outside 0..1")
        points.append((x, y))
    if len(points) < 3:
        raise ValueError("needs at least 3 points")
    return tuple(points)


def parse_cameras(
    raw: Sequence[Mapping[str, Any]], *, unifi_configured: bool
) -> tuple[tuple[CameraOptions, ...], list[str]]:
    """Cross-field checks on schema-valid camera entries; returns cameras and problems."""
    problems: list[str] = []
    cameras: list[CameraOptions] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        name = f"cameras[{i}]"
        cam_id, source = str(item["id"]), str(item["source"])
        if cam_id in seen:
            problems.append(f"{name}.id: {cam_id!r} is used by another camera")
        seen.add(cam_id)
        entity_id = item.get("entity_id") or None
        unifi_id = item.get("unifi_camera_id") or None
        url = item.get("url") or None
        if source == "ha" and (entity_id is None or not _ENTITY_RE.match(entity_id)):
            problems.append(
                f"{name}.entity_id: source ha needs a camera entity id such as camera.printer, got {entity_id!r}"
            )
        if source == "unifi":
            if not unifi_id:
                problems.append(f"{name}.unifi_camera_id: source unifi needs the Protect camera id")
            if not unifi_configured:
                problems.append(
                    f"{name}: source unifi needs unifi_host and unifi_username/unifi_password or unifi_api_key"
                )
        if source == "url":
            parsed = urlparse(url or "")
            if parsed.scheme not in _URL_SCHEMES or not parsed.netloc:
                problems.append(
                    f"{name}.url: source url needs an http(s):// or rtsp(s):// URL, got {url!r}"
                )
        region = None
        if item.get("region"):
            try:
                region = parse_region(str(item["region"]))
            except ValueError as err:
                problems.append(f"{name}.region: {err}")
        scene = item.get("failure_scene") or None
        if scene is not None and not _SCENE_RE.match(scene):
            problems.append(
                f"{name}.failure_scene: expected a scene entity id such as scene.print_failed, got {scene!r}"
            )
        cameras.append(
            CameraOptions(
                cam_id, str(item["printer"]), source, entity_id, unifi_id, url, region, scene
            )
        )
    return tuple(cameras), problems
