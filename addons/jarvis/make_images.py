"""Draw the add-on store images: icon.png (128x128) and logo.png (250x100).

Run once after changing the design (needs Pillow, in the add-on's `test` extra):
    .venv-addon/bin/python addons/jarvis/make_images.py
The PNGs are committed; this script is not part of the image.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
NAVY = (17, 37, 64, 255)
AMBER = (255, 176, 32, 255)
WHITE = (255, 255, 255, 255)


def draw_mark(draw: ImageDraw.ImageDraw, x: int, y: int, size: int) -> None:
    """A rounded navy tile with an amber gear ring and a white 'J' stroke (workshop + Jarvis)."""
    draw.rounded_rectangle((x, y, x + size - 1, y + size - 1), radius=size // 5, fill=NAVY)
    cx, cy, r = x + size / 2, y + size / 2, size * 0.30
    teeth = 8
    for i in range(teeth):  # gear teeth as short thick spokes
        a = 2 * math.pi * i / teeth
        inner, outer = r * 0.9, r * 1.28
        draw.line(
            (
                cx + inner * math.cos(a),
                cy + inner * math.sin(a),
                cx + outer * math.cos(a),
                cy + outer * math.sin(a),
            ),
            fill=AMBER,
            width=max(2, size // 10),
        )
    ring = max(2, size // 14)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=AMBER, width=ring)
    # 'J': a vertical stroke with a hook at the bottom.
    w = max(2, size // 14)
    top, bottom = cy - r * 0.55, cy + r * 0.25
    draw.line((cx + r * 0.15, top, cx + r * 0.15, bottom), fill=WHITE, width=w)
    draw.arc(
        (cx - r * 0.45, bottom - r * 0.3, cx + r * 0.15 + w / 2, bottom + r * 0.3),
        0,
        180,
        fill=WHITE,
        width=w,
    )


def icon() -> Image.Image:
    """128x128, transparent corners."""
    img = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
    draw_mark(ImageDraw.Draw(img), 0, 0, 128)
    return img


def logo() -> Image.Image:
    """250x100: the mark plus simple block letters 'JARVIS' drawn with lines (no font files needed)."""
    img = Image.new("RGBA", (250, 100), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw_mark(draw, 4, 10, 80)
    # Stroke font on a 5x7 grid; each letter a list of polylines.
    glyphs: dict[str, list[list[tuple[float, float]]]] = {
        "J": [[(1, 0), (5, 0)], [(3.5, 0), (3.5, 5.5), (2.5, 7), (1, 7), (0, 5.5)]],
        "A": [[(0, 7), (2.5, 0), (5, 7)], [(1, 4.2), (4, 4.2)]],
        "R": [[(0, 7), (0, 0), (4, 0), (5, 1), (5, 2.5), (4, 3.5), (0, 3.5)], [(2.5, 3.5), (5, 7)]],
        "V": [[(0, 0), (2.5, 7), (5, 0)]],
        "I": [[(2.5, 0), (2.5, 7)], [(1, 0), (4, 0)], [(1, 7), (4, 7)]],
        "S": [
            [
                (5, 1),
                (4, 0),
                (1, 0),
                (0, 1),
                (0, 2.5),
                (1, 3.5),
                (4, 3.5),
                (5, 4.5),
                (5, 6),
                (4, 7),
                (1, 7),
                (0, 6),
            ]
        ],
    }
    scale, x, y = 3.6, 92.0, 37.0
    for ch in "JARVIS":
        for line in glyphs[ch]:
            draw.line(
                [(x + px * scale, y + py * scale) for px, py in line],
                fill=NAVY,
                width=4,
                joint="curve",
            )
        x += 6.2 * scale
    return img


def main() -> None:
    """Write both PNGs next to this script."""
    icon().save(HERE / "icon.png", optimize=True)
    logo().save(HERE / "logo.png", optimize=True)


if __name__ == "__main__":
    main()
