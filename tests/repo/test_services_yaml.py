"""services.yaml, its translations and icons, and icons.json as a whole.

Upstream: home-assistant/core script/hassfest/services.py (CUSTOM_INTEGRATION_SERVICES_SCHEMA,
validate_services: every registered service described, names/descriptions in the translations,
an icon per service) and script/hassfest/icons.py (icon_schema; since 2024.8 a service's icon is
{"service": "mdi:..."} with optional per-section icons).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
import contextlib
import copy
from typing import Any

from homeassistant.helpers import config_validation as cv, selector, service
import pytest
import voluptuous as vol

from . import (
    INTEGRATION,
    call_name,
    integration_sources,
    load_json,
    load_yaml,
    module_constants,
    resolve_str,
    schema_problems,
    translation_key_validator,
)

# -- services.yaml --------------------------------------------------------------------------------


def _exists(value: Any) -> Any:
    if value is None:
        raise vol.Invalid("Value cannot be None")
    return value


def _filter_name(validate: Callable[[str], Any]) -> Callable[[str], str]:
    """HA's filter validators import every entity component to resolve a name.

    Some of those need native extras (turbojpeg for camera) this venv may lack; then the name is
    accepted unchecked rather than the test failing for an unrelated reason.
    """

    def check(value: str) -> str:
        with contextlib.suppress(ImportError):
            validate(value)
        return value

    return check


def _field_schema(targeted: bool) -> vol.Schema:
    schema: dict[Any, Any] = {
        vol.Optional("example"): _exists,
        vol.Optional("default"): _exists,
        vol.Optional("required"): bool,
        vol.Optional("advanced"): bool,
        vol.Optional("selector"): selector.validate_selector,
        # CUSTOM_INTEGRATION_EXTRA_SCHEMA_DICT: custom integrations may inline these
        vol.Optional("description"): str,
        vol.Optional("name"): str,
    }
    if targeted:  # FIELD_FILTER_SCHEMA_DICT
        schema[vol.Optional("filter")] = {
            vol.Exclusive("attribute", "field_filter"): {
                vol.Required(str): [vol.All(str, _filter_name(service.validate_attribute_option))]
            },
            vol.Exclusive("supported_features", "field_filter"): [
                vol.All(str, _filter_name(service.validate_supported_feature))
            ],
        }
    return vol.Schema(schema)


def _service_schema(targeted: bool) -> vol.Schema:
    section = vol.Schema(
        {
            vol.Optional("collapsed"): bool,
            vol.Required("fields"): vol.Schema({str: _field_schema(targeted)}),
            vol.Optional("description"): str,
            vol.Optional("name"): str,
        }
    )
    schema: dict[Any, Any] = {
        vol.Optional("fields"): vol.Schema({str: vol.Any(_field_schema(targeted), section)}),
        vol.Optional("description"): str,
        vol.Optional("name"): str,
    }
    if targeted:
        schema[vol.Required("target")] = selector.TargetSelector.CONFIG_SCHEMA
    return vol.Schema(schema)


TARGETED, UNTARGETED = _service_schema(targeted=True), _service_schema(targeted=False)


def _service(value: Any) -> Any:
    """hassfest tries both service schemas; picking by `target` gives the clearer error."""
    if value is None:
        return value
    return (TARGETED if isinstance(value, dict) and "target" in value else UNTARGETED)(value)


SERVICES_SCHEMA = vol.Schema({cv.slug: _service})


def _fields(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """A service's fields, sections flattened."""
    found: dict[str, Any] = {}
    for name, value in ((spec or {}).get("fields") or {}).items():
        if isinstance(value, dict) and "fields" in value:
            found.update(value["fields"] or {})
        else:
            found[name] = value or {}
    return found


def services_yaml_problems(services: Any) -> list[str]:
    """hassfest's schema, plus: every field has a selector (the UI renders fields from it)."""
    problems = schema_problems(SERVICES_SCHEMA, services, "services.yaml")
    for name, spec in (services or {}).items() if isinstance(services, dict) else ():
        problems += [
            f"services.yaml {name}.{field} has no selector"
            for field, value in _fields(spec).items()
            if "selector" not in value
        ]
    return problems


def registered_services(
    sources: Mapping[str, str], follow_imports: bool = False
) -> tuple[set[str], list[str]]:
    """Service names the code registers, and registrations whose name is not a constant."""
    # (call name, index of the service-name argument)
    calls = {
        "async_register": 1,
        "async_register_admin_service": 2,
        "async_register_entity_service": 0,
        "async_register_platform_entity_service": 2,
    }
    names: set[str] = set()
    unresolved: list[str] = []
    for rel, source in sorted(sources.items()):
        tree = ast.parse(source)
        constants = module_constants(tree, rel if follow_imports else None)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (index := calls.get(call_name(node))) is not None:
                arg = node.args[index] if len(node.args) > index else None
                if (name := resolve_str(arg, constants)) is None:
                    unresolved.append(
                        f"{rel}:{node.lineno}: cannot tell which service is registered"
                    )
                else:
                    names.add(name)
    return names, unresolved


def service_coverage_problems(
    services: Mapping[str, Any],
    registered: set[str],
    strings: Mapping[str, Any],
    icons: Mapping[str, Any],
) -> list[str]:
    """Registered == described; each service and field named and described; one icon each."""
    problems = [
        f"service {s!r} is registered but not in services.yaml"
        for s in sorted(registered - set(services))
    ]
    problems += [
        f"services.yaml {s} is never registered" for s in sorted(set(services) - registered)
    ]
    texts, service_icons = strings.get("services", {}), icons.get("services", {})
    for name, spec in sorted(services.items()):
        text = texts.get(name, {})
        problems += [
            f"strings services.{name}.{k} is missing"
            for k in ("name", "description")
            if k not in text
        ]
        fields = _fields(spec)
        for field in sorted(fields):
            problems += [
                f"strings services.{name}.fields.{field}.{k} is missing"
                for k in ("name", "description")
                if k not in text.get("fields", {}).get(field, {})
            ]
        problems += [
            f"strings services.{name}.fields.{f} is not a field in services.yaml"
            for f in sorted(set(text.get("fields", {})) - set(fields))
        ]
        icon = service_icons.get(name)
        if not (isinstance(icon, dict) and "service" in icon):
            problems.append(f"icons.json services.{name}.service is missing")
    problems += [
        f"strings services.{s} is not in services.yaml" for s in sorted(set(texts) - set(services))
    ]
    problems += [
        f"icons.json services.{s} is not in services.yaml"
        for s in sorted(set(service_icons) - set(services))
    ]
    return problems


# -- icons.json -----------------------------------------------------------------------------------


def icon_value_validator(value: Any) -> str:
    """hassfest: an MDI icon, `mdi:` prefixed."""
    value = cv.string_with_no_html(value)
    if not value.startswith("mdi:"):
        raise vol.Invalid(
            "The icon needs to be a valid icon from Material Design Icons and start with `mdi:`"
        )
    return str(value)


STATE_ICONS = cv.schema_with_slug_keys(
    icon_value_validator, slug_validator=translation_key_validator
)
ENTITY_ICON = {
    vol.Optional("default"): icon_value_validator,
    vol.Optional("state"): STATE_ICONS,
    vol.Optional("range"): {vol.Coerce(float): icon_value_validator},
    vol.Optional("state_attributes"): cv.schema_with_slug_keys(
        {vol.Optional("default"): icon_value_validator, vol.Optional("state"): STATE_ICONS},
        slug_validator=translation_key_validator,
    ),
}
DATA_ENTRY_ICONS = vol.Schema({"step": {str: {"sections": {str: icon_value_validator}}}})
# icon_schema for a non-entity integration type (hub/service/device); custom integrations may
# still give a service's icon as a plain string.
ICONS_SCHEMA = vol.Schema(
    {
        vol.Optional("config"): DATA_ENTRY_ICONS,
        vol.Optional("options"): DATA_ENTRY_ICONS,
        vol.Optional("issues"): {str: {"fix_flow": DATA_ENTRY_ICONS}},
        vol.Optional("services"): cv.schema_with_slug_keys(
            vol.Any(
                icon_value_validator,
                {
                    vol.Optional("service"): icon_value_validator,
                    vol.Optional("sections"): cv.schema_with_slug_keys(
                        icon_value_validator, slug_validator=translation_key_validator
                    ),
                },
            ),
            slug_validator=translation_key_validator,
        ),
        vol.Optional("entity"): cv.schema_with_slug_keys(
            cv.schema_with_slug_keys(ENTITY_ICON, slug_validator=translation_key_validator),
            slug_validator=cv.slug,
        ),
    }
)


def icons_problems(icons: Any, strings: Mapping[str, Any]) -> list[str]:
    """Schema, and every entity icon belongs to a translated entity (icons are keyed by translation_key)."""
    problems = schema_problems(ICONS_SCHEMA, icons, "icons.json")
    entity = strings.get("entity", {})
    for platform, keys in (icons.get("entity") or {}).items() if isinstance(icons, dict) else ():
        problems += [
            f"icons.json entity.{platform}.{key} has no entity.{platform}.{key} in strings.json"
            for key in sorted(keys)
            if key not in entity.get(platform, {})
        ]
    return problems


# -- tests ----------------------------------------------------------------------------------------

SERVICES = load_yaml(INTEGRATION / "services.yaml")
ICONS = load_json(INTEGRATION / "icons.json")
STRINGS = load_json(INTEGRATION / "strings.json")


def test_services_yaml_is_valid() -> None:
    problems = services_yaml_problems(SERVICES)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("yaml_data", "expected"),
    [
        ({"Bad Name": None}, "services.yaml: "),
        ({"svc": {"fields": {"f": {"selector": {"no_such_selector": {}}}}}}, "services.yaml: "),
        (
            {"svc": {"fields": {"f": {"required": "yes", "selector": {"text": {}}}}}},
            "services.yaml: ",
        ),
        ({"svc": {"fields": {"f": {"required": True}}}}, "services.yaml svc.f has no selector"),
        ({"svc": {"fields": {"s": {"fields": {"f": {}}}}}}, "services.yaml svc.f has no selector"),
        (
            {"svc": {"unknown_key": 1}},
            "services.yaml: extra keys not allowed @ data['svc']['unknown_key']",
        ),
        ({"svc": {"target": {"entity": {"domain": 5}}}}, "data['svc']['target']"),
    ],
)
def test_services_yaml_problems_are_reported(yaml_data: Any, expected: str) -> None:
    assert any(expected in problem for problem in services_yaml_problems(yaml_data))


def test_services_are_registered_translated_and_have_icons() -> None:
    registered, unresolved = registered_services(integration_sources(), follow_imports=True)
    problems = unresolved + service_coverage_problems(SERVICES, registered, STRINGS, ICONS)
    assert not problems, "\n".join(problems)


def _coverage(
    services: Any = None, registered: Any = None, strings: Any = None, icons: Any = None
) -> list[str]:
    return service_coverage_problems(
        SERVICES if services is None else services,
        set(SERVICES) if registered is None else registered,
        STRINGS if strings is None else strings,
        ICONS if icons is None else icons,
    )


def _strings_without(*path: str) -> dict[str, Any]:
    strings = copy.deepcopy(STRINGS)
    node = strings
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return strings


SERVICE = next(iter(SERVICES))
FIELD = next(iter(_fields(SERVICES[SERVICE])))


@pytest.mark.parametrize(
    ("problems", "expected"),
    [
        (
            lambda: _coverage(registered={*SERVICES, "reload"}),
            "service 'reload' is registered but not in services.yaml",
        ),
        (lambda: _coverage(registered=set()), f"services.yaml {SERVICE} is never registered"),
        (
            lambda: _coverage(strings=_strings_without("services", SERVICE, "name")),
            f"strings services.{SERVICE}.name is missing",
        ),
        (
            lambda: _coverage(
                strings=_strings_without("services", SERVICE, "fields", FIELD, "description")
            ),
            f"strings services.{SERVICE}.fields.{FIELD}.description is missing",
        ),
        (lambda: _coverage(icons={}), f"icons.json services.{SERVICE}.service is missing"),
        (
            lambda: _coverage(
                services={**SERVICES, "extra": None}, registered={*SERVICES, "extra"}
            ),
            "strings services.extra.name is missing",
        ),
        (
            lambda: _coverage(
                icons={"services": {**ICONS["services"], "gone": {"service": "mdi:x"}}}
            ),
            "icons.json services.gone is not in services.yaml",
        ),
    ],
)
def test_service_coverage_problems_are_reported(problems: Any, expected: str) -> None:
    assert expected in problems()


def test_unresolvable_registration_is_reported() -> None:
    source = "def setup(hass, name):\n    hass.services.async_register(DOMAIN, name, handler)\n"
    assert registered_services({"services.py": source}) == (
        set(),
        ["services.py:2: cannot tell which service is registered"],
    )


def test_icons_json_is_valid() -> None:
    problems = icons_problems(ICONS, STRINGS)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("icons", "expected"),
    [
        (
            {"services": {SERVICE: {"service": "heart"}}},
            "icons.json: The icon needs to be a valid icon",
        ),
        (
            {"entity": {"binary_sensor": {"ghost": {"default": "mdi:ghost"}}}},
            "icons.json entity.binary_sensor.ghost has no",
        ),
        (
            {"entity": {"binary_sensor": {"addon_connectivity": {"state": {"On": "mdi:lan"}}}}},
            "icons.json: Invalid translation key 'On'",
        ),
        ({"entities": {}}, "icons.json: extra keys not allowed"),
    ],
)
def test_icons_problems_are_reported(icons: Any, expected: str) -> None:
    assert any(problem.startswith(expected) for problem in icons_problems(icons, STRINGS))
