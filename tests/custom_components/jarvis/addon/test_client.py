"""The add-on client's pure parts: URL validation and health parsing."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.jarvis.addon.client import (
    AddonHealth,
    AddonResponseError,
    AddonUrlError,
    normalize_url,
)

GOOD_HEALTH: dict[str, Any] = {
    "app": "jarvis",
    "status": "ok",
    "version": "0.1.0",
    "instance_id": "abc",
    "mqtt": {"connected": True, "reconnects": 2},
    "uptime_s": 1.5,
    "authenticated": True,
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://local-jarvis:8099", "http://local-jarvis:8099"),
        ("  http://local-jarvis:8099/  ", "http://local-jarvis:8099"),
        ("127.0.0.1:8099", "http://127.0.0.1:8099"),
        ("https://jarvis.example:443/base/", "https://jarvis.example/base"),
        ("http://[::1]:8099", "http://[::1]:8099"),
        ("http://jarvis", "http://jarvis"),
    ],
)
def test_normalize_url(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ftp://host:21",
        "http://",
        "http://host:99999",
        "http://host:port",
        "http://user:pw@host:1",
        "http://host:1/?x=1",
        "http://host:1/#frag",
        "http://bad host:1",
    ],
)
def test_normalize_url_rejects(raw: str) -> None:
    with pytest.raises(AddonUrlError):
        normalize_url(raw)


def test_health_parses() -> None:
    health = AddonHealth.from_json(GOOD_HEALTH)
    assert health.instance_id == "abc"
    assert health.mqtt_connected is True
    assert health.mqtt_reconnects == 2
    assert health.authenticated is True
    assert health.raw is GOOD_HEALTH


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {**GOOD_HEALTH, "app": "octoprint"},
        {**GOOD_HEALTH, "status": "starting"},
        {k: v for k, v in GOOD_HEALTH.items() if k != "instance_id"},
        {**GOOD_HEALTH, "mqtt": None},
        {**GOOD_HEALTH, "mqtt": {"connected": True}},
        {**GOOD_HEALTH, "uptime_s": "soon"},
    ],
)
def test_health_rejects(doc: Any) -> None:
    with pytest.raises(AddonResponseError):
        AddonHealth.from_json(doc)
