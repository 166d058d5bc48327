"""JPEG decoding for the detector: reduced-scale decode, sizes, and every kind of bad bytes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from jarvis_addon.cv.frames import FrameError, decode, decode_color, jpeg_size


def jpeg(w: int, h: int, quality: int = 85) -> bytes:
    img = np.zeros((h, w, 3), np.uint8)
    cv2.rectangle(img, (w // 4, h // 4), (w // 2, h // 2), (255, 255, 255), -1)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(buf.tobytes())


@pytest.mark.parametrize(
    ("w", "h"), [(640, 480), (1280, 720), (1920, 1080), (320, 240), (200, 100)]
)
def test_decode_to_work_width(w: int, h: int) -> None:
    data = jpeg(w, h)
    assert jpeg_size(data) == (w, h)
    gray, src = decode(data)
    assert src == (w, h)
    assert gray.ndim == 2 and gray.shape[1] == 320
    assert gray.shape[0] == round(h * 320 / w)
    # The white square is where it was, whatever the scale the decoder used.
    y, x = int(gray.shape[0] * 3 / 8), int(320 * 3 / 8)
    assert gray[y, x] > 200 and gray[2, 2] < 30


def test_png_is_accepted_too() -> None:
    _, buf = cv2.imencode(".png", np.full((60, 80), 128, np.uint8))
    gray, src = decode(buf.tobytes())
    assert src == (80, 60) and gray.shape == (240, 320)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty frame"),
        (b"not an image at all", "not a decodable image"),
        (jpeg(640, 480)[:300], "not a decodable image"),
    ],
)
def test_bad_bytes_raise_frame_error(data: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        decode(data)
    with pytest.raises(FrameError):
        decode_color(data)


def test_zero_size_jpeg_header() -> None:
    data = bytearray(jpeg(64, 48))
    i = data.find(b"\xff\xc0")
    data[i + 5 : i + 9] = b"\x00\x00\x00\x00"  # height 0, width 0 in the SOF0 header
    assert jpeg_size(bytes(data)) == (0, 0)
    with pytest.raises(FrameError, match="zero-size"):
        decode(bytes(data))


def test_jpeg_size_of_non_jpeg() -> None:
    assert jpeg_size(b"\x89PNG....") is None
    assert jpeg_size(b"\xff\xd8\x00\x00\x00\x00\x00\x00\x00\x00\x00") is None


def test_decode_color_full_resolution() -> None:
    assert decode_color(jpeg(1280, 720)).shape == (720, 1280, 3)
