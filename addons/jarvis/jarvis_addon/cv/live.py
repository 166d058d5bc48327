"""The live view of a camera monitor: its latest frame with the detector's verdict drawn on it.

Pure apart from OpenCV: no HTTP, no MQTT. The web routes and the MQTT live camera both use it.
"""

from __future__ import annotations

from typing import Any, Final

import cv2
import numpy as np

from .detector import Level
from .frames import FrameError, decode_color
from .monitor import LiveFrame, draw_detection

ALERT_LEVELS: Final = frozenset({Level.WARNING, Level.PAUSE})
JPEG_QUALITY: Final = 80


def live_info(frame: LiveFrame) -> dict[str, Any]:
    """What the page needs to know about the latest frame (JSON-friendly)."""
    det = frame.detection
    return {
        "frame": frame.index,
        "at": frame.at,
        "level": det.level.value,
        "score": round(det.score, 3),
        "kind": det.kind,
        # The box is only meaningful while the detector warns or pauses.
        "box": list(det.box) if det.box and det.level in ALERT_LEVELS else None,
        "region": [list(p) for p in det.region] if det.region else None,
    }


def annotate(frame: LiveFrame) -> bytes:
    """The frame as JPEG with the print region, and the box + label when it warns or pauses."""
    img = decode_color(frame.jpeg)
    det = frame.detection
    if det.level in ALERT_LEVELS:
        draw_detection(img, det)
    elif det.region:
        h, w = img.shape[:2]
        poly = np.array([[round(x * w), round(y * h)] for x, y in det.region], np.int32)
        cv2.polylines(img, [poly], True, (255, 128, 0), max(1, w // 640))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - encoding a decoded frame does not fail
        raise FrameError("could not encode the live frame")
    return bytes(buf.tobytes())


class AnnotatedCache:
    """One annotated JPEG per camera, redrawn only when a new frame arrives."""

    def __init__(self) -> None:
        """Empty."""
        self._frames: dict[str, tuple[int, bytes]] = {}

    def get(self, camera_id: str, frame: LiveFrame) -> bytes:
        """The annotated JPEG of this frame (drawn once per frame index)."""
        cached = self._frames.get(camera_id)
        if cached is not None and cached[0] == frame.index:
            return cached[1]
        data = annotate(frame)
        self._frames[camera_id] = (frame.index, data)
        return data
