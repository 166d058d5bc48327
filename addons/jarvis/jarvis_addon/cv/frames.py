"""JPEG bytes -> the detector's small grayscale frame, fast (pure: no I/O, no network).

libjpeg can decode at 1/2, 1/4 or 1/8 scale by skipping IDCT work; the detector only needs about
320 pixels across, so a 1080p snapshot is decoded at 1/4 (480x270) and then area-resized. That is
most of the per-frame cost at high resolutions.
"""

from __future__ import annotations

from typing import Final

import cv2
from cv2.typing import MatLike
import numpy as np

WORK_WIDTH: Final = 320
_REDUCED: Final = {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
                   4: cv2.IMREAD_REDUCED_GRAYSCALE_4, 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}  # fmt: skip
_REDUCED_COLOR: Final = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
                         4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}  # fmt: skip
MAX_BYTES: Final = 20 * 1024 * 1024

Gray = MatLike


class FrameError(ValueError):
    """The bytes are not a usable image (empty, truncated, not JPEG/PNG, zero-size)."""


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's SOF header without decoding; None if not found."""
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return None
    i = 2
    n = len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h = int.from_bytes(data[i + 5 : i + 7], "big")
            w = int.from_bytes(data[i + 7 : i + 9], "big")
            return (w, h)
        i += 2 + length
    return None


def decode(
    data: bytes, work_width: int = WORK_WIDTH, *, color: bool = False
) -> tuple[Gray, tuple[int, int]]:
    """Decode to a grayscale (`color`: BGR) frame `work_width` wide, and the source's size.

    Returns (frame, (width, height)). Raises FrameError for anything that is not a decodable, non-empty image.
    """
    if not data:
        raise FrameError("empty frame (0 bytes)")
    if len(data) > MAX_BYTES:
        raise FrameError(f"frame too large ({len(data)} bytes)")
    size = jpeg_size(data)
    factor = 1
    if size is not None:
        if size[0] == 0 or size[1] == 0:
            raise FrameError(f"zero-size image ({size[0]}x{size[1]})")
        while factor < 8 and size[0] // (factor * 2) >= work_width:
            factor *= 2
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, (_REDUCED_COLOR if color else _REDUCED)[factor])
    if img is None or img.size == 0:
        raise FrameError("not a decodable image (corrupt or truncated)")
    src = size or (int(img.shape[1]), int(img.shape[0]))
    h, w = img.shape[:2]
    if w != work_width:
        height = max(1, round(h * work_width / w))
        img = cv2.resize(img, (work_width, height), interpolation=cv2.INTER_AREA)
    return img, src


def decode_color(data: bytes) -> MatLike:
    """Full-resolution BGR decode (for evidence snapshots); FrameError if unusable."""
    if not data:
        raise FrameError("empty frame (0 bytes)")
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise FrameError("not a decodable image (corrupt or truncated)")
    return img
