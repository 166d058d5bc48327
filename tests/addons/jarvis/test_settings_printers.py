"""The `printers` option: validated with clear errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from jarvis_addon.settings import OptionsError, Settings


def _printer(**extra: Any) -> dict[str, Any]:
    return {
        "id": "printer2",
        "name": "Printer 2",
        "type": "octoprint",
        "url": "http://octopi.local",
        "api_key": "ABC123",
        **extra,
    }


def test_printers_parse() -> None:
    settings = Settings.from_options(
        {
            "printers": [
                _printer(
                    scene_start="scene.shop_on", snapshot_url="http://cam/snap.jpg", serial_port=""
                ),
                _printer(id="voron", type="moonraker", url="http://voron:7125/"),
            ],
            "printer_poll_interval": 2,
            "print_files_dir": "/share/prints",
        }
    )
    first, second = settings.printers
    assert first.scene_start == "scene.shop_on" and first.serial_port is None
    assert second.url == "http://voron:7125" and second.type == "moonraker"
    assert settings.printer_poll_interval == 2 and settings.print_files_dir == "/share/prints"
    assert "ABC123" not in repr(settings)
    defaults = Settings.from_options({})
    assert defaults.printers == () and defaults.print_files_dir == "/share/jarvis/prints"


@pytest.mark.parametrize(
    ("printers", "problem"),
    [
        ([_printer(type="prusalink")], "printers[0].type: expected one of octoprint|moonraker"),
        ([_printer(id="Printer 2")], "printers[0].id: expected a value matching"),
        ([_printer(url="octopi.local")], "printers[0].url: expected a URL"),
        (
            [_printer(url="ftp://octopi.local")],
            "printers[0].url: expected an http:// or https:// URL",
        ),
        ([_printer(api_key="")], "printers[0].api_key: expected a string of at least 1 characters"),
        (
            [{k: v for k, v in _printer().items() if k != "api_key"}],
            "missing required option 'printers[0].api_key'",
        ),
        (
            [_printer(scene_start="light.shop")],
            "printers[0].scene_start: expected a value matching",
        ),
        ([_printer(), _printer()], "printers[1].id: 'printer2' is used by another printer"),
        ([_printer(colour="red")], "unknown option 'printers[0].colour'"),
        (_printer(), "printers: expected a list"),
    ],
)
def test_bad_printers_are_named(printers: Any, problem: str) -> None:
    with pytest.raises(OptionsError) as err:
        Settings.from_options({"printers": printers})
    assert any(problem in p for p in err.value.problems), err.value.problems
