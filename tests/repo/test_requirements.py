"""manifest.json requirements: pinned, installable next to Home Assistant, and their loggers.

Home Assistant installs a custom integration's requirements with pip, constrained by
homeassistant/package_constraints.txt, into the one site-packages every integration shares. So a
requirement must not conflict with that file, must not be a package core itself ships (PyJWT,
aiohttp, ...), and should not pin a package differently from a core integration (each start would
reinstall the other's version). hassfest's requirements.py only checks the format for custom
integrations ("pkg==version", no spaces, a parseable version); the rest is Home Assistant's runtime
behaviour (homeassistant/requirements.py, homeassistant/util/package.py).
"""

from __future__ import annotations

from collections.abc import Mapping
import functools
import importlib.metadata
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
import pytest

from . import CORE_COMPONENTS, HA_PACKAGE, INTEGRATION, load_json

# -- requirements ---------------------------------------------------------------------------------


def _parse_requirement_lines(lines: list[str]) -> dict[str, Requirement]:
    parsed: dict[str, Requirement] = {}
    for raw in lines:
        if line := raw.split("#")[0].strip():
            req = Requirement(line)
            parsed[canonicalize_name(req.name)] = req
    return parsed


@functools.cache
def core_constraints() -> dict[str, Requirement]:
    """homeassistant/package_constraints.txt: HA installs every requirement with it as -c."""
    return _parse_requirement_lines(
        (HA_PACKAGE / "package_constraints.txt").read_text().splitlines()
    )


@functools.cache
def core_own_requirements() -> dict[str, Requirement]:
    """What the homeassistant package itself depends on (always installed with core)."""
    return _parse_requirement_lines(importlib.metadata.requires("homeassistant") or [])


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def requirement_problems(
    requirements: list[str],
    constraints: Mapping[str, Requirement] | None = None,
    core_requires: Mapping[str, Requirement] | None = None,
) -> list[str]:
    """Pinned, installable next to core, not a package core already ships, installed as pinned."""
    constraints = core_constraints() if constraints is None else constraints
    core_requires = core_own_requirements() if core_requires is None else core_requires
    problems: list[str] = []
    for line in requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            problems.append(f"requirement {line!r} does not parse")
            continue
        pins = [spec.version for spec in req.specifier if spec.operator == "=="]
        if " " in line or len(req.specifier) != 1 or not pins or req.extras or req.marker:
            problems.append(f"requirement {line!r} must be a plain pin 'package==version'")
            continue
        pin, name = pins[0], canonicalize_name(req.name)
        if name in core_requires:
            problems.append(
                f"requirement {line!r}: Home Assistant itself already ships {req.name} "
                f"({core_requires[name]}); drop it from manifest.json"
            )
        if (constraint := constraints.get(name)) and not constraint.specifier.contains(
            pin, prereleases=True
        ):
            problems.append(
                f"requirement {line!r} conflicts with Home Assistant's package_constraints.txt "
                f"({constraint}); HA installs requirements with that file as a constraint"
            )
        if (installed := _installed_version(req.name)) != pin:
            problems.append(
                f"requirement {line!r}: the test venv has {req.name} {installed}; run scripts/setup"
            )
    return problems


@functools.cache
def core_integration_pins() -> dict[str, dict[str, str]]:
    """package -> {pinned version: core domain} from every core integration's manifest."""
    pins: dict[str, dict[str, str]] = {}
    for manifest_path in sorted(CORE_COMPONENTS.glob("*/manifest.json")):
        for line in load_json(manifest_path).get("requirements", []):
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            for spec in req.specifier:
                if spec.operator == "==":
                    pins.setdefault(canonicalize_name(req.name), {})[spec.version] = (
                        manifest_path.parent.name
                    )
    return pins


def core_pin_problems(
    requirements: list[str], pins: Mapping[str, Mapping[str, str]] | None = None
) -> list[str]:
    """A package a core integration pins differently gets reinstalled back and forth at every start.

    HA keeps one site-packages; with both integrations set up, each start installs the other's pin.
    """
    pins = core_integration_pins() if pins is None else pins
    problems: list[str] = []
    for line in requirements:
        req = Requirement(line)
        ours = {spec.version for spec in req.specifier if spec.operator == "=="}
        theirs = pins.get(canonicalize_name(req.name), {})
        problems += [
            f"requirement {line!r}: core integration {domain!r} pins {req.name}=={version}; "
            "use the same version"
            for version, domain in sorted(theirs.items())
            if version not in ours
        ]
    return problems


def logger_problems(manifest: Mapping[str, Any]) -> list[str]:
    """`loggers` names the requirements' loggers (HA's "enable debug logging" switches them on).

    The integration's own logger (custom_components.jarvis) is always included by HA, so a logger
    must belong to one of the requirements: a top-level module or the distribution's own name.
    """
    provided: set[str] = set()
    module_map = importlib.metadata.packages_distributions()
    for line in manifest.get("requirements", []):
        dist = canonicalize_name(Requirement(line).name)
        provided.add(dist.replace("-", "_"))
        provided |= {
            module
            for module, dists in module_map.items()
            if dist in {canonicalize_name(d) for d in dists}
        }
    return [
        f"manifest.json loggers: {name!r} is not a logger of any requirement "
        f"(requirements provide {sorted(provided)}); the integration's own logger needs no entry"
        for name in manifest.get("loggers", [])
        if name.split(".")[0] not in provided
    ]


# -- tests ----------------------------------------------------------------------------------------

MANIFEST = load_json(INTEGRATION / "manifest.json")
REQUIREMENTS: list[str] = MANIFEST.get("requirements", [])


def test_requirements_are_pinned_installed_and_fit_core() -> None:
    problems = requirement_problems(REQUIREMENTS)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        ("openai>=2.0", "must be a plain pin"),
        ("PyJWT==2.10.1", "Home Assistant itself already ships PyJWT"),
        ("aiohttp==3.9.0", "conflicts with Home Assistant's package_constraints.txt"),
        ("openai==1.0.0", "conflicts with Home Assistant's package_constraints.txt"),
        ("no-such-package-jarvis==1.0", "the test venv has no-such-package-jarvis None"),
    ],
)
def test_requirement_problems_are_reported(requirement: str, expected: str) -> None:
    assert any(expected in problem for problem in requirement_problems([requirement]))


# Deliberate differences from a core integration's pin, each with its reason.
CORE_PIN_EXCEPTIONS = {
    # ollama-python 0.6 returns token logprobs, one of the router's confidence signals;
    # core's ollama integration still pins 0.5.1 in HA 2026.2.3.
    "ollama",
}


def test_requirements_match_core_integration_pins() -> None:
    ours = [
        r for r in REQUIREMENTS if canonicalize_name(Requirement(r).name) not in CORE_PIN_EXCEPTIONS
    ]
    assert len(ours) == len(REQUIREMENTS) - len(CORE_PIN_EXCEPTIONS)
    problems = core_pin_problems(ours)
    assert not problems, "\n".join(problems)


def test_core_pin_mismatch_is_reported() -> None:
    problems = core_pin_problems(["foo==2.0"], {"foo": {"1.0": "foo_integration"}})
    assert problems == [
        "requirement 'foo==2.0': core integration 'foo_integration' pins foo==1.0; use the same version"
    ]


def test_loggers_belong_to_requirements() -> None:
    problems = logger_problems(MANIFEST)
    assert not problems, "\n".join(problems)


def test_foreign_logger_is_reported() -> None:
    problems = logger_problems(
        {"requirements": ["openai==2.15.0"], "loggers": ["openai", "jarvis"]}
    )
    assert len(problems) == 1
    assert "'jarvis' is not a logger of any requirement" in problems[0]
