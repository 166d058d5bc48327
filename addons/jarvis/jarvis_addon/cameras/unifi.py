"""UniFi Protect cameras read directly with the `uiprotect` client (snapshots).

HA's own UniFi Protect integration uses the same library; reaching Protect directly saves a hop
through HA and works when the camera is not exposed to HA. RTSP(S) streams of Protect cameras can
be given to the `url` source instead (OpenCV).
"""

from __future__ import annotations

import asyncio

from uiprotect import ProtectApiClient
from uiprotect.exceptions import ClientError, NotAuthorized, NvrError

from .base import DEFAULT_TIMEOUT, CameraAuthError, CameraError


class UnifiProtectSource:
    """Snapshots of one Protect camera, by its id, through a (shared) ProtectApiClient."""

    def __init__(
        self, client: ProtectApiClient, camera_id: str, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """`client` may be shared by several cameras of one console."""
        self._client = client
        self._camera_id = camera_id
        self._timeout = timeout

    @property
    def description(self) -> str:
        """Which console and camera."""
        return f"UniFi Protect camera {self._camera_id}"

    async def snapshot(self) -> bytes:
        """One JPEG from the NVR; CameraError on any failure."""
        what = self.description
        try:
            data = await asyncio.wait_for(
                self._client.get_camera_snapshot(self._camera_id), self._timeout
            )
        except TimeoutError:
            raise CameraError(f"{what}: timed out after {self._timeout:g}s") from None
        except NotAuthorized as err:
            raise CameraAuthError(f"{what}: not authorised ({err})") from None
        except (ClientError, NvrError, OSError) as err:
            raise CameraError(f"{what}: {type(err).__name__}: {err}") from None
        if not data:
            raise CameraError(f"{what}: the NVR returned no image")
        return bytes(data)

    async def close(self) -> None:
        """The client is closed by whoever made it."""
