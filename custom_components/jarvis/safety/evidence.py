"""Evidence: snapshots from a zone's cameras through HA's camera entities, kept with their sha256.

HA's camera component covers UniFi Protect (core integration) and any other camera, so no second
camera client is opened here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
import re
from typing import Any

from homeassistant.components import camera
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

SNAPSHOT_TIMEOUT_S = 10
_SAFE = re.compile(r"[^a-zA-Z0-9_.-]")
_EXTENSIONS = {"image/jpeg": "jpg", "image/jpg": "jpg", "image/png": "png"}


async def async_capture(
    hass: HomeAssistant, cameras: tuple[str, ...], folder: Path, stem: str
) -> list[dict[str, Any]]:
    """One snapshot per camera: path (relative to the config dir), sha256, size; or the error."""
    found: list[dict[str, Any]] = []
    for entity_id in cameras:
        try:
            image = await camera.async_get_image(hass, entity_id, timeout=SNAPSHOT_TIMEOUT_S)
        except HomeAssistantError as err:
            found.append({"camera": entity_id, "error": str(err) or type(err).__name__})
            continue
        digest = hashlib.sha256(image.content).hexdigest()
        ext = _EXTENSIONS.get(image.content_type, "bin")
        path = folder / f"{_SAFE.sub('_', stem)}_{_SAFE.sub('_', entity_id)}.{ext}"
        await hass.async_add_executor_job(_write, path, image.content)
        found.append(
            {
                "camera": entity_id,
                "sha256": digest,
                "bytes": len(image.content),
                "content_type": image.content_type,
                "path": str(path.relative_to(hass.config.config_dir)),
            }
        )
    return found


def combined_sha256(evidence: list[dict[str, Any]]) -> str | None:
    """One hash over every snapshot hash (what a command token binds); None without snapshots."""
    hashes = [e["sha256"] for e in evidence if "sha256" in e]
    if not hashes:
        return None
    return hashlib.sha256("".join(hashes).encode()).hexdigest()


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
