"""The `cad` option group: validation by the settings schema, and what the CAD service is built from."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_addon.cad import config
from jarvis_addon.settings import OptionsError, Settings


def test_options_win_over_environment(tmp_path: Path) -> None:
    settings = Settings.from_options(
        {
            "mqtt_host": "127.0.0.1",
            "cad": {
                "dir": str(tmp_path / "cad"),
                "offline": True,
                "budget_usd": 1.5,
                "zoo_api_token": "zt",
                "tripo_base_url": "http://127.0.0.1:9/",
            },
        }
    )
    assert "zt" not in repr(settings)  # API keys stay out of logs
    cfg = config.load(
        settings.cad,
        tmp_path,
        {"ZOO_API_TOKEN": "env", "TRIPO_API_KEY": "tsk_env", "ZOO_HOST": "http://127.0.0.1:8"},
    )
    assert cfg.root == tmp_path / "cad" and cfg.offline and cfg.budget_usd == 1.5 and cfg.enabled
    assert cfg.zoo.token == "zt" and cfg.zoo.base_url == "http://127.0.0.1:8"  # no option: ZOO_HOST
    assert cfg.tripo.api_key == "tsk_env" and cfg.tripo.base_url == "http://127.0.0.1:9/"


def test_defaults_outside_the_container(tmp_path: Path) -> None:
    cfg = config.load({}, tmp_path, {})
    assert cfg.enabled and not cfg.offline and cfg.budget_usd is None
    assert cfg.zoo.token is None and cfg.tripo.api_key is None
    assert cfg.root in (Path("/share/jarvis/cad"), tmp_path / "cad")
    assert cfg.tripo.model_version == "v2.5-20250123"


def test_triposr_options(tmp_path: Path) -> None:
    sha = "AB" * 32
    settings = Settings.from_options(
        {
            "mqtt_host": "h",
            "cad": {
                "triposr_weights": str(tmp_path / "w"),
                "triposr_sha256": sha,
                "triposr_resolution": 128,
                "triposr_timeout": 60,
            },
        }
    )
    cfg = config.load(settings.cad, tmp_path, {"JARVIS_TRIPOSR_PYTHON": "/opt/tsr/bin/python"})
    assert cfg.triposr.weights == tmp_path / "w" and cfg.triposr.sha256 == sha.lower()
    assert cfg.triposr.python == Path("/opt/tsr/bin/python")
    assert (cfg.triposr.resolution, cfg.triposr.threshold, cfg.triposr.timeout) == (128, 25.0, 60.0)
    off = config.load({}, tmp_path, {})
    assert off.triposr.weights is None and off.triposr.python.name == "python"
    with pytest.raises(OptionsError) as err:
        Settings.from_options(
            {"mqtt_host": "h", "cad": {"triposr_sha256": "abc", "triposr_resolution": 4096}}
        )
    assert "cad.triposr_sha256" in str(err.value) and "cad.triposr_resolution" in str(err.value)


def test_bad_cad_options_are_named() -> None:
    with pytest.raises(OptionsError) as err:
        Settings.from_options(
            {"mqtt_host": "h", "cad": {"offline": "maybe", "budget_usd": "lots", "colour": 1}}
        )
    text = str(err.value)
    assert (
        "cad.offline" in text and "cad.budget_usd" in text and "unknown option 'cad.colour'" in text
    )


async def test_service_lists_every_provider(tmp_path: Path) -> None:
    cfg = config.load({"dir": str(tmp_path)}, tmp_path, {})
    service = config.build_service(cfg, None)
    try:
        assert set(service.providers) == {"cadquery", "cadquery_code", "zoo", "tripo", "triposr"}
        assert (tmp_path / "lineage.sqlite3").is_file()
    finally:
        await service.stop()
        service.store.close()


def test_an_unusable_cad_dir_disables_cad_instead_of_the_worker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from jarvis_addon.app import _make_cad
    from jarvis_addon.mqtt import MqttBridge

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    settings = Settings.from_options({"mqtt_host": "h", "cad": {"dir": str(blocker / "cad")}})

    async def resolve() -> object:
        raise AssertionError

    assert _make_cad(settings, tmp_path, MqttBridge(resolve), {}) is None  # type: ignore[arg-type]
    assert "CAD disabled: cannot use" in caplog.text
    off = Settings.from_options({"mqtt_host": "h", "cad": {"enabled": False}})
    assert _make_cad(off, tmp_path, MqttBridge(resolve), {}) is None  # type: ignore[arg-type]
