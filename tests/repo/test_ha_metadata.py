"""Brand images shipped inside the integration (custom_components/jarvis/brand/).

home-assistant/brands no longer takes custom integrations: HA >= 2026.3 serves
`custom_components/<domain>/brand/*.png` at /api/brands/integration/<domain>/<image>, and the HACS
action's brands check looks for brand/icon.png. The image rules are the brands repository's:
icon 256x256 (icon@2x 512x512), logo with its shortest side 128-256 (@2x 256-512), all PNG.

The other metadata checks live next to this file: test_manifest.py, test_hacs.py,
test_translations.py, test_services_yaml.py, test_quality_scale.py.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
import pytest

from . import INTEGRATION

BRAND = INTEGRATION / "brand"
IMAGES = {
    f"{dark}{kind}{hidpi}.png"
    for dark in ("", "dark_")
    for kind in ("icon", "logo")
    for hidpi in ("", "@2x")
}


def image_problems(name: str, data: bytes) -> list[str]:
    """One brand image: a PNG of the size its name promises."""
    try:
        image = Image.open(io.BytesIO(data))
        image.verify()
    except Exception as err:  # noqa: BLE001 - any decoding failure is the finding
        return [f"brand/{name} is not a readable image: {err}"]
    if image.format != "PNG":
        return [f"brand/{name} is {image.format}, not PNG"]
    width, height = image.size
    scale = 2 if "@2x" in name else 1
    if "icon" in name:
        if (width, height) != (256 * scale, 256 * scale):
            return [f"brand/{name} is {width}x{height}; it must be {256 * scale}x{256 * scale}"]
    elif not 128 * scale <= min(width, height) <= 256 * scale:
        return [
            (
                f"brand/{name} is {width}x{height}; its shortest side must be "
                f"{128 * scale}-{256 * scale} px"
            )
        ]
    return []


def brand_problems(files: dict[str, bytes]) -> list[str]:
    """icon.png is required; every file must be one of the known brand images."""
    problems = [] if "icon.png" in files else ["brand/icon.png is missing"]
    for name, data in sorted(files.items()):
        if name not in IMAGES:
            problems.append(f"brand/{name} is not a brand image name ({sorted(IMAGES)})")
        else:
            problems += image_problems(name, data)
    return problems


def _png(width: int, height: int, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA" if fmt == "PNG" else "RGB", (width, height)).save(buffer, format=fmt)
    return buffer.getvalue()


def _read(folder: Path) -> dict[str, bytes]:
    return (
        {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}
    )


def test_brand_images() -> None:
    problems = brand_problems(_read(BRAND))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, "brand/icon.png is missing"),
        ({"icon.png": _png(256, 200)}, "brand/icon.png is 256x200; it must be 256x256"),
        ({"icon.png": _png(128, 128)}, "brand/icon.png is 128x128; it must be 256x256"),
        ({"icon.png": _png(256, 256, "JPEG")}, "brand/icon.png is JPEG, not PNG"),
        ({"icon.png": b"not an image"}, "brand/icon.png is not a readable image"),
        (
            {"icon.png": _png(256, 256), "icon@2x.png": _png(256, 256)},
            "brand/icon@2x.png is 256x256; it must be 512x512",
        ),
        (
            {"icon.png": _png(256, 256), "logo.png": _png(600, 100)},
            "brand/logo.png is 600x100; its shortest side must be 128-256 px",
        ),
        ({"icon.png": _png(256, 256), "banner.png": _png(256, 256)}, "brand/banner.png is not"),
    ],
)
def test_brand_problems_are_reported(files: dict[str, bytes], expected: str) -> None:
    assert any(problem.startswith(expected) for problem in brand_problems(files))
