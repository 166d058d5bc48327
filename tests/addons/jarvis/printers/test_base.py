"""check_gcode: what counts as a printable G-code file (pure)."""

from __future__ import annotations

import pytest

from jarvis_addon.printers.base import PrinterStatus, check_gcode


def test_real_gcode_passes() -> None:
    assert check_gcode("bracket.gcode", b"; sliced\nG28\nG1 X10 Y10 F3000\nM104 S200\nT0\n") is None
    assert check_gcode("part.g", b"PRINT_START BED=60\nG28\n") is None


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("bracket.stl", b"solid x\n", "not a G-code file"),
        ("../etc/passwd.gcode", b"G28\n", "invalid file name"),
        ("empty.gcode", b"  \n", "is empty"),
        ("photo.gcode", b"\xff\xd8\xff\xe0JFIF", "not text"),
        ("bin.gcode", b"G28\x00\x01", "binary"),
        ("notes.gcode", b"; only a comment\n", "only comments"),
        ("essay.gcode", b"Hello there, this is a letter\n", "does not look like G-code"),
    ],
)
def test_not_gcode_is_named(name: str, data: bytes, why: str) -> None:
    problem = check_gcode(name, data)
    assert problem is not None and why in problem


def test_status_online() -> None:
    assert PrinterStatus(state="idle").online
    assert not PrinterStatus(state="offline").online
    assert not PrinterStatus(state="unreachable").online
