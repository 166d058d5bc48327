"""RTSP (or any stream OpenCV's FFmpeg backend opens) -> one JPEG per snapshot.

The stream is opened per snapshot: at one frame every few seconds a held-open RTSP session would
buffer stale frames, and reopening also recovers from a camera reboot without extra logic. The
blocking OpenCV calls run in a worker thread under a timeout.
"""

from __future__ import annotations

import asyncio
import re

import cv2

from .base import DEFAULT_TIMEOUT, CameraError


class OpenCvStreamSource:
    """Grab one frame from an RTSP/HTTP stream URL (or a video file) with OpenCV."""

    def __init__(
        self, url: str, *, timeout: float = DEFAULT_TIMEOUT, jpeg_quality: int = 90
    ) -> None:
        """Nothing is opened before the first snapshot."""
        self._url = url
        self._timeout = timeout
        self._quality = jpeg_quality

    @property
    def description(self) -> str:
        """The URL without credentials."""
        return re.sub(r"//[^/@]*@", "//***@", self._url)

    async def snapshot(self) -> bytes:
        """One JPEG-encoded frame; CameraError when the stream cannot be opened or read in time."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._grab), self._timeout + 1)
        except TimeoutError:
            raise CameraError(f"{self.description}: no frame within {self._timeout:g}s") from None

    def _grab(self) -> bytes:
        ms = int(self._timeout * 1000)
        cap = cv2.VideoCapture(
            self._url,
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms],
        )
        try:
            if not cap.isOpened():
                raise CameraError(f"{self.description}: cannot open the stream")
            ok, frame = cap.read()
            if not ok or frame is None or frame.size == 0:
                raise CameraError(f"{self.description}: the stream gave no frame")
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
            if not ok:  # pragma: no cover - encoding a decoded frame does not fail
                raise CameraError(f"{self.description}: JPEG encoding failed")
            return bytes(buf.tobytes())
        finally:
            cap.release()

    async def close(self) -> None:
        """Nothing is held between snapshots."""
