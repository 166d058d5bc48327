"""manifest.json: hassfest's manifest rules and HACS's required keys (requirements: test_requirements.py).

Upstream sources mirrored here:
- home-assistant/core script/hassfest/manifest.py (CUSTOM_INTEGRATION_MANIFEST_SCHEMA, verify_version,
  custom_documentation_url, validate_manifest, sort_manifest "domain, name, then alphabetical").
- home-assistant/core script/hassfest/config_flow.py (config_flow: true <-> config_flow.py).
- home-assistant/core script/hassfest/dependencies.py (imports of other components must be declared).
- hacs/integration custom_components/hacs/utils/validate.py (INTEGRATION_MANIFEST_JSON_SCHEMA).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
import copy
import functools
from pathlib import Path
import re
import typing
from typing import Any
from urllib.parse import urlparse

from awesomeversion import AwesomeVersion, AwesomeVersionException, AwesomeVersionStrategy
from homeassistant import loader
from homeassistant.const import Platform
import pytest
import voluptuous as vol

from . import CORE_COMPONENTS, INTEGRATION, integration_sources, load_json, schema_problems

# -- hassfest's schema ---------------------------------------------------------------------------

# hassfest: ScaledQualityScaleTiers + NonScaledQualityScaleTiers.
QUALITY_SCALES = [
    "bronze",
    "silver",
    "gold",
    "platinum",
    "custom",
    "no_score",
    "internal",
    "legacy",
]
IOT_CLASSES = [
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
]
# Runtime source of truth for integration types: homeassistant.loader.Manifest ("virtual" is for
# brand stubs without code, which hassfest validates with a separate schema).
INTEGRATION_TYPES = [
    t
    for t in typing.get_args(typing.get_type_hints(loader.Manifest)["integration_type"])
    if t != "virtual"
]
VERSION_STRATEGIES = [
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
]


def verify_version(value: str) -> str:
    """hassfest verify_version: the version must parse with one of AwesomeVersion's strategies."""
    try:
        AwesomeVersion(value, ensure_strategy=VERSION_STRATEGIES)
    except AwesomeVersionException as err:
        raise vol.Invalid(f"'{value}' is not a valid version.") from err
    return value


def https_url(value: str) -> str:
    """hassfest custom_documentation_url (also applied to issue_tracker here): https, not core docs."""
    if urlparse(value).scheme != "https":
        raise vol.Invalid("URL is not prefixed with https")
    if value.startswith("https://www.home-assistant.io/integrations"):
        raise vol.Invalid("Documentation URL should point to the custom integration documentation")
    return value


def codeowner(value: str) -> str:
    """Codeowners are GitHub handles or teams (hassfest codeowners.py writes them into CODEOWNERS)."""
    if not re.fullmatch(r"@[A-Za-z0-9][-A-Za-z0-9]*(/[-A-Za-z0-9_.]+)?", value):
        raise vol.Invalid(f"codeowner {value!r} must be a GitHub @user or @org/team")
    return value


# hassfest INTEGRATION_MANIFEST_SCHEMA extended to CUSTOM_INTEGRATION_MANIFEST_SCHEMA; discovery
# matchers (zeroconf, ssdp, bluetooth, homekit, dhcp, usb) are accepted structurally only, as
# Jarvis uses none of them. HACS makes issue_tracker, codeowners and version required.
MANIFEST_SCHEMA = vol.Schema(
    {
        vol.Required("domain"): str,
        vol.Required("name"): str,
        vol.Optional("integration_type", default="hub"): vol.In(INTEGRATION_TYPES),
        vol.Optional("config_flow"): bool,
        vol.Optional("mqtt"): [str],
        vol.Optional("zeroconf"): list,
        vol.Optional("ssdp"): list,
        vol.Optional("bluetooth"): list,
        vol.Optional("homekit"): dict,
        vol.Optional("dhcp"): list,
        vol.Optional("usb"): list,
        vol.Required("documentation"): vol.All(vol.Url(), https_url),
        vol.Required("issue_tracker"): vol.All(vol.Url(), https_url),
        vol.Optional("quality_scale"): vol.In(QUALITY_SCALES),
        vol.Optional("requirements"): [str],
        vol.Optional("dependencies"): [str],
        vol.Optional("after_dependencies"): [str],
        vol.Required("codeowners"): vol.All([codeowner], vol.Length(min=1)),
        vol.Optional("loggers"): [str],
        vol.Optional("disabled"): str,
        vol.Required("iot_class"): vol.In(IOT_CLASSES),
        vol.Optional("single_config_entry"): bool,
        vol.Optional("preview_features"): dict,
        vol.Required("version"): vol.All(str, verify_version),
        vol.Optional("import_executor"): bool,
    }
)


def _sort_key(key: str) -> str:
    """hassfest sort_manifest: domain, name, then alphabetical."""
    return {"domain": ".domain", "name": ".name"}.get(key, key)


@functools.cache
def core_domains() -> frozenset[str]:
    """Every integration shipped with the installed Home Assistant."""
    return frozenset(p.name for p in CORE_COMPONENTS.iterdir() if (p / "manifest.json").is_file())


def manifest_problems(
    manifest: Mapping[str, Any], folder: Path, core: frozenset[str] | None = None
) -> list[str]:
    """hassfest validate_manifest + sort_manifest + HACS required keys, for a custom integration."""
    core = core_domains() if core is None else core
    problems = schema_problems(MANIFEST_SCHEMA, dict(manifest), "manifest.json")
    keys = list(manifest)
    if keys != sorted(keys, key=_sort_key):
        problems.append(
            f"manifest.json keys are not sorted (domain, name, then alphabetical): {keys} should be "
            f"{sorted(keys, key=_sort_key)}"
        )
    domain = manifest.get("domain")
    if domain != folder.name:
        problems.append(
            f"manifest.json domain {domain!r} does not match its folder {folder.name!r}"
        )
    if domain in core:
        problems.append(
            f"manifest.json domain {domain!r} collides with a core integration; pick another"
        )
    if bool(manifest.get("config_flow")) != (folder / "config_flow.py").is_file():
        problems.append(
            "manifest.json config_flow must be true exactly when config_flow.py exists (hassfest)"
        )
    for key in ("dependencies", "after_dependencies"):
        problems += [
            f"manifest.json {key}: {dep!r} is not a Home Assistant integration"
            for dep in manifest.get(key, [])
            if dep not in core
        ]
    if both := set(manifest.get("dependencies", [])) & set(manifest.get("after_dependencies", [])):
        problems.append(
            f"manifest.json lists {sorted(both)} in both dependencies and after_dependencies"
        )
    return problems


# -- hassfest dependencies.py: components the code imports must be declared ----------------------

ALLOWED_USED_COMPONENTS = {
    *{platform.value for platform in Platform},
    # Internal integrations (hassfest ALLOWED_USED_COMPONENTS)
    "alert", "automation", "conversation", "default_config", "device_automation", "frontend",
    "group", "homeassistant", "input_boolean", "input_button", "input_datetime", "input_number",
    "input_select", "input_text", "media_source", "onboarding", "panel_custom",
    "persistent_notification", "person", "script", "shopping_list", "sun", "system_health",
    "system_log", "timer", "webhook", "websocket_api", "zone",
    "mjpeg", "stream",
}  # fmt: skip


def referenced_components(source: str) -> set[str]:
    """Components a module imports (hassfest ImportCollector, TYPE_CHECKING blocks ignored)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name):
            if node.test.id == "TYPE_CHECKING":
                return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("homeassistant.components."):
                found.add(node.module.split(".")[2])
            elif node.module == "homeassistant.components":
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(
                alias.name.split(".")[2]
                for alias in node.names
                if alias.name.startswith("homeassistant.components.")
            )
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def dependency_problems(manifest: Mapping[str, Any], sources: Mapping[str, str]) -> list[str]:
    """hassfest: 'Using component X but it's not in dependencies or after_dependencies'."""
    allowed = (
        ALLOWED_USED_COMPONENTS
        | set(manifest.get("dependencies", []))
        | set(manifest.get("after_dependencies", []))
        | {manifest.get("domain")}
        # a platform this integration implements (diagnostics.py, sensor.py, ...)
        | {Path(rel).stem for rel in sources if "/" not in rel}
        | {rel.split("/")[0] for rel in sources if "/" in rel}
    )
    return [
        f"{rel}: uses component {component!r} but it is not in manifest.json dependencies or "
        "after_dependencies"
        for rel, source in sorted(sources.items())
        for component in sorted(referenced_components(source) - allowed)
    ]


# -- tests ----------------------------------------------------------------------------------------

MANIFEST = load_json(INTEGRATION / "manifest.json")


def _broken(**changes: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(MANIFEST)
    for key, value in changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    return manifest


def test_manifest_is_valid() -> None:
    problems = manifest_problems(MANIFEST, INTEGRATION)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (_broken(version=None), "required key not provided @ data['version']"),
        (_broken(issue_tracker=None), "required key not provided @ data['issue_tracker']"),
        (_broken(iot_class=None), "required key not provided @ data['iot_class']"),
        (_broken(iot_class="local_magic"), "data['iot_class']"),
        (_broken(integration_type="appliance"), "data['integration_type']"),
        (_broken(version="not a version!"), "is not a valid version"),
        (_broken(documentation="http://example.com/jarvis"), "not prefixed with https"),
        (_broken(codeowners=["jarvis-workshop"]), "must be a GitHub @user"),
        (_broken(quality_scale="diamond"), "data['quality_scale']"),
        (_broken(domain="octoprint"), "collides with a core integration"),
        (_broken(domain="jarvis2"), "does not match its folder"),
        (_broken(config_flow=None), "config_flow must be true exactly when"),
        (_broken(dependencies=["http", "no_such_integration"]), "'no_such_integration' is not"),
        ({"name": "Jarvis", **_broken(name=None)}, "keys are not sorted"),
        (
            dict(sorted(MANIFEST.items(), key=lambda kv: kv[0] == "iot_class")),
            "keys are not sorted",
        ),
    ],
)
def test_manifest_problems_are_reported(broken: dict[str, Any], expected: str) -> None:
    assert any(expected in problem for problem in manifest_problems(broken, INTEGRATION))


def test_used_components_are_declared() -> None:
    problems = dependency_problems(MANIFEST, integration_sources())
    assert not problems, "\n".join(problems)


def test_undeclared_component_is_reported() -> None:
    sources = {"light.py": "from homeassistant.components.zha import helpers\n"}
    assert dependency_problems(MANIFEST, sources) == [
        (
            "light.py: uses component 'zha' but it is not in manifest.json dependencies or "
            "after_dependencies"
        )
    ]
    typing_only = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from homeassistant.components import zha\n"
    )
    assert dependency_problems(MANIFEST, {"x.py": typing_only}) == []
