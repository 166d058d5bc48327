"""What every camera source provides: one JPEG snapshot per call, with a timeout and typed errors."""

from __future__ import annotations

from typing import Final, Protocol

DEFAULT_TIMEOUT: Final = 10.0
MAX_SNAPSHOT_BYTES: Final = 20 * 1024 * 1024


class CameraError(Exception):
    """A snapshot could not be had: unreachable, timed out, refused, or not an image."""


class CameraAuthError(CameraError):
    """The source refused our credentials (401/403)."""


class FrameSource(Protocol):
    """A camera the monitor can sample."""

    @property
    def description(self) -> str:
        """Where frames come from, for logs and state (no secrets)."""
        ...

    async def snapshot(self) -> bytes:
        """One encoded image (JPEG normally); raises CameraError."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
