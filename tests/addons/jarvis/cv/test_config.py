"""Camera options: schema types plus the cross-field checks, every problem named at once."""

from __future__ import annotations

from typing import Any

import pytest

from jarvis_addon.cv.config import parse_region
from jarvis_addon.settings import OptionsError, Settings

HA_CAM = {"id": "mk4_cam", "printer": "mk4", "source": "ha", "entity_id": "camera.mk4"}


def test_cameras_are_parsed() -> None:
    settings = Settings.from_options(
        {
            "cameras": [
                {
                    **HA_CAM,
                    "region": "0.1,0.2;0.9,0.2;0.9,0.9",
                    "failure_scene": "scene.print_failed",
                },
                {
                    "id": "voron",
                    "printer": "voron",
                    "source": "url",
                    "url": "rtsp://u:p@10.0.0.5/live",
                },
                {"id": "x1", "printer": "x1", "source": "unifi", "unifi_camera_id": "65ab"},
            ],
            "unifi_host": "192.168.1.1",
            "unifi_username": "viewer",
            "unifi_password": "pw-secret",
            "cv_interval": 3,
        }
    )
    ha, url, unifi = settings.cameras
    assert (
        ha.region == ((0.1, 0.2), (0.9, 0.2), (0.9, 0.9))
        and ha.failure_scene == "scene.print_failed"
    )
    assert url.url == "rtsp://u:p@10.0.0.5/live" and unifi.unifi_camera_id == "65ab"
    assert settings.cv_interval == 3.0 and settings.unifi_port == 443
    assert "pw-secret" not in repr(settings)


def test_no_cameras_by_default() -> None:
    assert Settings.from_options({}).cameras == ()


def test_evidence_folder_is_configurable() -> None:
    assert Settings.from_options({}).cv_evidence_dir == "/share/jarvis/cv"
    assert Settings.from_options({"cv_evidence_dir": ""}).cv_evidence_dir == "/share/jarvis/cv"
    assert Settings.from_options({"cv_evidence_dir": "/data/cv"}).cv_evidence_dir == "/data/cv"


@pytest.mark.parametrize(
    ("camera", "extra", "problem"),
    [
        (
            {**HA_CAM, "entity_id": None},
            {},
            "cameras[0].entity_id: source ha needs a camera entity id",
        ),
        ({**HA_CAM, "entity_id": "light.desk"}, {}, "cameras[0].entity_id: source ha needs"),
        (
            {"id": "c", "printer": "p", "source": "url", "url": "ftp://x/y"},
            {},
            "cameras[0].url: source url needs",
        ),
        (
            {"id": "c", "printer": "p", "source": "unifi"},
            {},
            "cameras[0].unifi_camera_id: source unifi needs",
        ),
        (
            {"id": "c", "printer": "p", "source": "unifi", "unifi_camera_id": "a"},
            {},
            "cameras[0]: source unifi needs unifi_host",
        ),
        ({**HA_CAM, "region": "0.1,0.2;0.5,0.5"}, {}, "cameras[0].region: needs at least 3 points"),
        (
            {**HA_CAM, "region": "0,0;2,0;1,1"},
            {},
            "cameras[0].region: point 2.0,0.0 is outside 0..1",
        ),
        ({**HA_CAM, "region": "a,b;c"}, {}, "cameras[0].region: expected 'x,y;x,y;x,y'"),
        (
            {**HA_CAM, "failure_scene": "script.x"},
            {},
            "cameras[0].failure_scene: expected a scene entity id",
        ),
        ({**HA_CAM, "id": "Bad Id"}, {}, "cameras[0].id: expected a value matching"),
        ({**HA_CAM, "source": "ftp"}, {}, "cameras[0].source: expected one of ha|unifi|url"),
        (HA_CAM, {"cv_interval": 0.1}, "cv_interval: expected a number 0.5-60"),
    ],
)
def test_bad_camera_options_name_the_field(
    camera: dict[str, Any], extra: dict[str, Any], problem: str
) -> None:
    with pytest.raises(OptionsError) as info:
        Settings.from_options({"cameras": [camera], **extra})
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_duplicate_ids_and_several_problems_at_once() -> None:
    with pytest.raises(OptionsError) as info:
        Settings.from_options({"cameras": [HA_CAM, {**HA_CAM, "entity_id": "nope"}]})
    problems = info.value.problems
    assert "cameras[1].id: 'mk4_cam' is used by another camera" in problems
    assert any(p.startswith("cameras[1].entity_id") for p in problems)


def test_parse_region() -> None:
    assert parse_region("0,0; 1,0 ;1,1") == ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0))
