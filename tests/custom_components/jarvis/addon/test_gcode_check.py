"""The integration's quick G-code check: refused at once, before the safety gate holds it."""

from __future__ import annotations

import pytest

from custom_components.jarvis.addon.devices import gcode_problem


@pytest.mark.parametrize(
    ("filename", "text", "problem"),
    [
        ("bracket.gcode", "G28\nG1 X5 Y5 ; move\nM104 S200\nT0\n", None),
        ("klipper.gco", "PRINT_START BED=60\nG1 X1\n", None),
        ("a.g", "; only a comment\ng1 x1\n", None),
        ("cat.png", "G28", "not a G-code file"),
        ("../etc/x.gcode", "G28", "not a G-code file"),
        ("", "G28", "the file is not a G-code file"),
        ("empty.gcode", "; nothing\n\n", "holds no G-code commands"),
        ("letter.gcode", "Dear printer, hi", "does not look like G-code"),
    ],
)
def test_gcode_problem(filename: str, text: str, problem: str | None) -> None:
    found = gcode_problem(filename, text)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
