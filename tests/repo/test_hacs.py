"""hacs.json and the repository layout HACS expects for an integration.

Upstream: hacs/integration custom_components/hacs/utils/validate.py (HACS_MANIFEST_JSON_SCHEMA,
extra keys are an error) and https://hacs.xyz/docs/publish/integration (layout).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
from homeassistant.const import __version__ as ha_version
from homeassistant.generated.countries import COUNTRIES
import pytest
import voluptuous as vol

from . import ROOT, load_json, schema_problems

# The oldest Home Assistant the integration supports and is tested on: bump it together with
# requirements_test.txt's pytest-homeassistant-custom-component pin.
MINIMUM_HA = "2026.2.0"


def _countries(value: Any) -> Any:
    """HACS _country_validator: an ISO 3166 alpha-2 code or a list of them."""
    codes = [value] if isinstance(value, str) else value
    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        raise vol.Invalid(f"country must be a string or a list of strings, got {value!r}")
    # HACS also accepts "UK", which is not ISO 3166.
    if unknown := [code for code in codes if code.upper() not in COUNTRIES | {"UK"}]:
        raise vol.Invalid(f"unknown country codes {unknown}")
    return value


def _version(value: str) -> str:
    """The value must parse with AwesomeVersion (HACS compares it to the running versions)."""
    if AwesomeVersion(value).strategy == AwesomeVersionStrategy.UNKNOWN:
        raise vol.Invalid(f"{value!r} is not a version")
    return value


# HACS_MANIFEST_JSON_SCHEMA (extra=PREVENT_EXTRA). `render_readme` is accepted upstream but
# unused by HACS; it is kept so this copy rejects exactly what HACS rejects.
HACS_JSON_SCHEMA = vol.Schema(
    {
        vol.Optional("content_in_root"): bool,
        vol.Optional("country"): _countries,
        vol.Optional("filename"): str,
        vol.Optional("hacs"): vol.All(str, _version),
        vol.Optional("hide_default_branch"): bool,
        vol.Optional("homeassistant"): vol.All(str, _version),
        vol.Optional("persistent_directory"): str,
        vol.Optional("render_readme"): bool,
        vol.Optional("zip_release"): bool,
        vol.Required("name"): vol.All(str, vol.Length(min=1)),
    },
    extra=vol.PREVENT_EXTRA,
)


def hacs_json_problems(data: dict[str, Any]) -> list[str]:
    """Schema, plus the minimum HA version we actually test against."""
    problems = schema_problems(HACS_JSON_SCHEMA, data, "hacs.json")
    if data.get("homeassistant") != MINIMUM_HA:
        problems.append(
            f"hacs.json homeassistant is {data.get('homeassistant')!r}; the minimum version the "
            f"tests cover is {MINIMUM_HA!r}"
        )
    if data.get("zip_release") and not data.get("filename"):
        problems.append("hacs.json zip_release needs filename (the release asset's name)")
    if data.get("content_in_root"):
        problems.append("hacs.json content_in_root: the integration lives in custom_components/")
    return problems


def layout_problems(root: Path) -> list[str]:
    """Exactly one integration under custom_components/, README.md and hacs.json at the root."""
    problems = [
        f"{name} is missing at the repository root"
        for name in ("README.md", "hacs.json")
        if not (root / name).is_file()
    ]
    components = root / "custom_components"
    found = (
        sorted(p.name for p in components.iterdir() if p.is_dir() and p.name != "__pycache__")
        if components.is_dir()
        else []
    )
    if len(found) != 1:
        problems.append(f"custom_components/ must hold exactly one integration, found {found}")
    problems += [
        f"custom_components/{name} has no manifest.json"
        for name in found
        if not (components / name / "manifest.json").is_file()
    ]
    return problems


HACS_JSON = load_json(ROOT / "hacs.json")


def test_hacs_json_is_valid() -> None:
    problems = hacs_json_problems(HACS_JSON)
    assert not problems, "\n".join(problems)


def test_minimum_ha_is_not_newer_than_the_tested_one() -> None:
    assert AwesomeVersion(ha_version) >= AwesomeVersion(MINIMUM_HA)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"domains": ["sensor"]}, "extra keys not allowed @ data['domains']"),
        ({"iot_class": "Local Push"}, "extra keys not allowed @ data['iot_class']"),
        ({"name": None}, "required key not provided @ data['name']"),
        ({"homeassistant": "2025.1.0"}, "the minimum version the tests cover is '2026.2.0'"),
        ({"homeassistant": "twenty-six"}, "is not a version"),
        ({"country": "XX"}, "unknown country codes"),
        ({"zip_release": True}, "zip_release needs filename"),
        ({"content_in_root": True}, "content_in_root"),
    ],
)
def test_hacs_json_problems_are_reported(change: dict[str, Any], expected: str) -> None:
    data = copy.deepcopy(HACS_JSON)
    for key, value in change.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    assert any(expected in problem for problem in hacs_json_problems(data))


def test_repository_layout() -> None:
    problems = layout_problems(ROOT)
    assert not problems, "\n".join(problems)


def test_layout_problems_are_reported(tmp_path: Path) -> None:
    (tmp_path / "custom_components" / "one").mkdir(parents=True)
    (tmp_path / "custom_components" / "two").mkdir()
    (tmp_path / "hacs.json").write_text("{}")
    assert layout_problems(tmp_path) == [
        "README.md is missing at the repository root",
        "custom_components/ must hold exactly one integration, found ['one', 'two']",
        "custom_components/one has no manifest.json",
        "custom_components/two has no manifest.json",
    ]
