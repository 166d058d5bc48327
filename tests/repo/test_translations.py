"""strings.json / translations/en.json: hassfest's schema, en.json in sync, exceptions and entities.

Upstream: home-assistant/core script/hassfest/translations.py (gen_strings_schema,
gen_data_entry_schema, translation_value_validator, RE_URL, RE_PLACEHOLDER_IN_SINGLE_QUOTES,
RE_COMBINED_REFERENCE). hassfest validates both strings.json and, for custom integrations,
translations/en.json with this schema. Completeness for the code (every raised exception and every
entity translation_key translated, nothing stray) is read from the source with `ast`; the config
flow's strings are checked in test_config_flow_strings.py, the services' in test_services_yaml.py.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
import re
import subprocess
import sys
from typing import Any

from homeassistant.const import Platform
from homeassistant.helpers import config_validation as cv
import pytest
import voluptuous as vol

from . import (
    INTEGRATION,
    ROOT,
    call_name,
    dict_keys,
    integration_sources,
    keyword,
    leaves,
    load_json,
    load_script,
    module_constants,
    placeholders,
    resolve_str,
    resolved_strings,
    schema_problems,
    translation_key_validator,
)

# -- hassfest's schema ----------------------------------------------------------------------------

RE_COMBINED_REFERENCE = re.compile(r"(.+\[%)|(%\].+)")
RE_PLACEHOLDER_IN_SINGLE_QUOTES = re.compile(r"'{\w+}'")
# RE_URL as of 2026: hassfest rejects URLs in translations ("use description placeholders").
RE_URL = re.compile(
    r"(((ftp|ftps|scp|http|https|mqtt|mqtts|socket|socks5):\/\/|www\.)"
    r"[a-z0-9]+([\-\.]{1}[a-z0-9]+)*\.[a-z]{2,5}(:[0-9]{1,5})?(\/.*)?)",
    re.IGNORECASE,
)


def translation_value_validator(value: Any) -> str:
    """No HTML, no '{quoted}' placeholders, no combined references, no padding, no URLs."""
    text = cv.string_with_no_html(value)
    if RE_PLACEHOLDER_IN_SINGLE_QUOTES.search(text):
        raise vol.Invalid("the string should not contain placeholders inside single quotes")
    if RE_COMBINED_REFERENCE.search(text):
        raise vol.Invalid("the string should not contain combined translations")
    if text != text.strip():
        raise vol.Invalid("the string should not contain leading or trailing spaces")
    if RE_URL.search(text):
        raise vol.Invalid(
            "the string should not contain URLs, please use description placeholders instead"
        )
    return text


TEXT = translation_value_validator
TEXTS = {str: TEXT}


def _data_description_in_data(value: dict[str, Any]) -> dict[str, Any]:
    for step_id, step in value["step"].items():
        for key in step.get("data_description", {}):
            if key not in step.get("data", {}):
                raise vol.Invalid(f"step {step_id}: data_description key {key} is not in data")
    return value


DATA_ENTRY: dict[Any, Any] = {
    vol.Optional("flow_title"): TEXT,
    vol.Required("step"): {
        str: {
            vol.Optional("title"): TEXT,
            vol.Optional("description"): TEXT,
            vol.Optional("data"): TEXTS,
            vol.Optional("data_description"): TEXTS,
            vol.Optional("menu_options"): TEXTS,
            vol.Optional("menu_option_descriptions"): TEXTS,
            vol.Optional("submit"): TEXT,
            vol.Optional("sections"): {
                str: {
                    vol.Optional("data"): TEXTS,
                    vol.Optional("data_description"): TEXTS,
                    vol.Optional("description"): TEXT,
                    vol.Optional("name"): TEXT,
                }
            },
        }
    },
    vol.Optional("error"): TEXTS,
    vol.Optional("abort"): TEXTS,
    vol.Optional("progress"): TEXTS,
    vol.Optional("create_entry"): TEXTS,
}


def data_entry_schema(extra: dict[Any, Any] | None = None) -> vol.All:
    """gen_data_entry_schema: a flow's steps, errors and abort reasons (+ `extra` keys)."""
    return vol.All(vol.Schema({**DATA_ENTRY, **(extra or {})}), _data_description_in_data)


STATES = cv.schema_with_slug_keys(TEXT, slug_validator=translation_key_validator)
ENTITY_SCHEMA = cv.schema_with_slug_keys(
    cv.schema_with_slug_keys(
        {
            vol.Optional("name"): TEXT,
            vol.Optional("state"): STATES,
            vol.Optional("state_attributes"): cv.schema_with_slug_keys(
                {vol.Optional("name"): TEXT, vol.Optional("state"): STATES},
                slug_validator=translation_key_validator,
            ),
            vol.Optional("unit_of_measurement"): TEXT,
        },
        slug_validator=translation_key_validator,
    ),
    slug_validator=cv.slug,
)
SERVICES_SCHEMA = cv.schema_with_slug_keys(
    {
        vol.Required("name"): TEXT,
        vol.Required("description"): TEXT,
        vol.Optional("fields"): cv.schema_with_slug_keys(
            {
                vol.Required("name"): str,
                vol.Required("description"): TEXT,
                vol.Optional("example"): TEXT,
            },
            slug_validator=translation_key_validator,
        ),
        vol.Optional("sections"): cv.schema_with_slug_keys(
            {vol.Required("name"): str, vol.Optional("description"): TEXT},
            slug_validator=translation_key_validator,
        ),
    },
    slug_validator=translation_key_validator,
)
# gen_strings_schema, limited to the sections an integration like Jarvis can have; any other
# top-level key is an error, as upstream.
STRINGS_SCHEMA = vol.Schema(
    {
        vol.Optional("title"): TEXT,
        vol.Optional("config"): data_entry_schema(
            {vol.Optional("initiate_flow"): {vol.Optional("user"): TEXT, str: TEXT}}
        ),
        vol.Optional("options"): data_entry_schema(),
        vol.Optional("config_subentries"): cv.schema_with_slug_keys(
            data_entry_schema(
                {
                    vol.Required("entry_type"): TEXT,
                    vol.Required("initiate_flow"): {vol.Required("user"): TEXT, str: TEXT},
                }
            ),
            slug_validator=vol.Any("_", cv.slug),
        ),
        vol.Optional("selector"): cv.schema_with_slug_keys(
            {
                vol.Optional("options"): STATES,
                vol.Optional("choices"): STATES,
                vol.Optional("unit_of_measurement"): STATES,
                vol.Optional("fields"): dict,
            },
            slug_validator=vol.Any("_", cv.slug),
        ),
        vol.Optional("issues"): {
            str: vol.Schema(
                {
                    vol.Required("title"): TEXT,
                    vol.Exclusive("description", "fixable"): TEXT,
                    vol.Exclusive("fix_flow", "fixable"): data_entry_schema(),
                }
            )
        },
        vol.Optional("device"): cv.schema_with_slug_keys(
            {vol.Optional("name"): TEXT}, slug_validator=translation_key_validator
        ),
        vol.Optional("entity"): ENTITY_SCHEMA,
        vol.Optional("exceptions"): cv.schema_with_slug_keys(
            {vol.Optional("message"): TEXT}, slug_validator=cv.slug
        ),
        vol.Optional("services"): SERVICES_SCHEMA,
        vol.Optional("system_health"): {vol.Optional("info"): TEXTS},
        vol.Optional("conversation"): {vol.Required("agent"): {vol.Required("done"): TEXT}},
        vol.Optional("common"): vol.Schema({cv.slug: TEXT}),
    }
)


def strings_schema_problems(strings: Any, label: str) -> list[str]:
    """hassfest's verdict on a strings.json / translations/en.json document."""
    return schema_problems(STRINGS_SCHEMA, strings, label)


# -- translations/en.json ------------------------------------------------------------------------


def en_json_problems(generated: Mapping[str, Any], en: Mapping[str, Any]) -> list[str]:
    """en.json must be exactly strings.json with references resolved (scripts/translations.py)."""
    want, have = dict(leaves(generated)), dict(leaves(en))
    label = "translations/en.json"
    return sorted(
        [f"{label} {key} is missing" for key in want.keys() - have.keys()]
        + [f"{label} {key} is not in strings.json" for key in have.keys() - want.keys()]
        + [
            f"{label} {key} differs from strings.json"
            for key in want.keys() & have.keys()
            if want[key] != have[key]
        ]
    )


# -- translation keys used in code: exceptions and entities ---------------------------------------

PLATFORMS = {platform.value for platform in Platform}


@dataclass
class KeyUsage:
    """translation_key= uses found in the integration's modules."""

    exceptions: dict[str, list[tuple[str, set[str] | None]]] = field(default_factory=dict)
    entities: dict[str, set[str]] = field(default_factory=dict)  # platform ("" = any) -> keys
    selectors: dict[str, str] = field(default_factory=dict)  # key -> where
    issues: dict[str, str] = field(default_factory=dict)  # repair issue key -> where
    unknown: list[str] = field(default_factory=list)


def key_usage(sources: Mapping[str, str], domain: str, follow_imports: bool = False) -> KeyUsage:
    """Classify every translation_key: exceptions (translation_domain=ours), entities, or unknown."""
    usage = KeyUsage()
    for rel, source in sorted(sources.items()):
        tree = ast.parse(source)
        constants = module_constants(tree, rel if follow_imports else None)
        stem = rel.removesuffix(".py").split("/")[-1]
        platform = stem if stem in PLATFORMS else ""
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_attr_translation_key" for t in node.targets
            ):
                if key := resolve_str(node.value, constants):
                    usage.entities.setdefault(platform, set()).add(key)
            if (
                not isinstance(node, ast.Call)
                or (value := keyword(node, "translation_key")) is None
            ):
                continue
            where = f"{rel}:{node.lineno}"
            key = resolve_str(value, constants)
            if key is None:
                usage.unknown.append(f"{where}: translation_key is not a literal")
            elif (dom := keyword(node, "translation_domain")) is not None:
                if resolve_str(dom, constants) == domain:
                    placeholders = dict_keys(keyword(node, "translation_placeholders"), constants)
                    usage.exceptions.setdefault(key, []).append((where, placeholders))
            elif call_name(node).endswith("EntityDescription"):
                usage.entities.setdefault(platform, set()).add(key)
            elif call_name(node) == "SelectSelectorConfig":
                usage.selectors.setdefault(key, where)
            elif call_name(node).endswith("async_create_issue"):
                usage.issues.setdefault(key, where)
            else:
                usage.unknown.append(
                    f"{where}: translation_key={key!r} in {call_name(node)}() is not checked"
                )
    return usage


def key_problems(strings: Mapping[str, Any], usage: KeyUsage) -> list[str]:
    """exceptions.<key>.message and entity.<platform>.<key>.name for every use, no stray keys."""
    problems = list(usage.unknown)
    exceptions = strings.get("exceptions", {})
    for key, uses in sorted(usage.exceptions.items()):
        if "message" not in exceptions.get(key, {}):
            problems.append(f"exceptions.{key}.message is missing (raised at {uses[0][0]})")
            continue
        wanted = placeholders(exceptions[key]["message"])
        for where, given in uses:
            if given is not None and (missing := wanted - given):
                problems.append(
                    f"exceptions.{key}.message uses {sorted(missing)}, not passed at {where}"
                )
    problems += [
        f"exceptions.{k} is never raised" for k in sorted(set(exceptions) - set(usage.exceptions))
    ]
    entity = strings.get("entity", {})
    for platform, keys in sorted(usage.entities.items()):
        for key in sorted(keys):
            candidates = [platform] if platform else list(entity)
            if not any("name" in entity.get(p, {}).get(key, {}) for p in candidates):
                problems.append(f"entity.{platform or '<platform>'}.{key}.name is missing")
    used = {(p, k) for p, keys in usage.entities.items() for k in keys}
    problems += [
        f"entity.{p}.{k} is translated but no entity uses translation_key {k!r}"
        for p, keys in sorted(entity.items())
        for k in sorted(keys)
        if (p, k) not in used and ("", k) not in used
    ]
    issues = strings.get("issues", {})
    problems += [
        f"issues.{key}.title/description is missing (raised at {where})"
        for key, where in sorted(usage.issues.items())
        if not {"title", "description"} <= set(issues.get(key, {}))
    ]
    problems += [
        f"issues.{key} is translated but never raised"
        for key in sorted(set(issues) - set(usage.issues))
    ]
    selector = strings.get("selector", {})
    problems += [
        f"selector.{key}.options is missing (used at {where})"
        for key, where in sorted(usage.selectors.items())
        if not selector.get(key, {}).get("options")
    ]
    problems += [
        f"selector.{key} is translated but no selector uses translation_key {key!r}"
        for key in sorted(set(selector) - set(usage.selectors))
    ]
    return problems


# -- tests ----------------------------------------------------------------------------------------

STRINGS = load_json(INTEGRATION / "strings.json")
EN = load_json(INTEGRATION / "translations" / "en.json")
TRANSLATIONS = load_script("translations")


@pytest.mark.parametrize(
    ("name", "strings"), [("strings.json", STRINGS), ("translations/en.json", EN)]
)
def test_strings_match_hassfest_schema(name: str, strings: dict[str, Any]) -> None:
    problems = strings_schema_problems(strings, name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            ("config", "step", "user", "description"),
            "See https://github.com/x/y",
            "should not contain URLs",
        ),
        (
            ("config", "step", "user", "description"),
            "Open www.example.com",
            "should not contain URLs",
        ),
        (("config", "error", "unknown"), "Bad '{name}'", "placeholders inside single quotes"),
        (("config", "error", "unknown"), "<b>Bad</b>", "HTML"),
        (("config", "error", "unknown"), "Bad ", "leading or trailing spaces"),
        (("config", "abort", "x"), "Also [%key:common::x%]", "combined translations"),
        (
            ("config", "step", "user", "data_description", "port"),
            "Port",
            "data_description key port is not in data",
        ),
        (("exceptions", "Bad_Key", "message"), "x", "invalid slug Bad_Key"),
        (("entity", "binary_sensor", "Upper"), {"name": "x"}, "Invalid translation key"),
        (("services", "get_addon_status", "name"), None, "required key not provided"),
        (("stuff",), {"x": "y"}, "extra keys not allowed @ data['stuff']"),
    ],
)
def test_strings_schema_problems_are_reported(
    path: tuple[str, ...], value: Any, expected: str
) -> None:
    strings = resolved_strings()
    node = strings
    for part in path[:-1]:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(path[-1])
    else:
        node[path[-1]] = value
    problems = strings_schema_problems(strings, "strings.json")
    assert any(expected in problem for problem in problems), problems


def test_hassfest_url_pattern_allows_host_examples() -> None:
    # hassfest's RE_URL only matches a dotted host with an alphabetic TLD.
    assert RE_URL.search("http://local-jarvis:8099") is None
    assert RE_URL.search("http://192.168.1.10:8099") is None
    assert RE_URL.search("HTTPS://www.example.com") is not None


def test_en_json_is_generated_from_strings_json() -> None:
    problems = en_json_problems(resolved_strings(), EN)
    assert not problems, "\n".join(problems)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "translations.py"), "--check"],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr or result.stdout


def test_stale_en_json_is_reported() -> None:
    stale = resolved_strings()
    stale["config"]["step"]["user"]["title"] = "Old title"
    stale["config"]["error"]["gone"] = "Removed from strings.json"
    del stale["config"]["abort"]["unknown"]
    assert en_json_problems(resolved_strings(), stale) == [
        "translations/en.json config.abort.unknown is missing",
        "translations/en.json config.error.gone is not in strings.json",
        "translations/en.json config.step.user.title differs from strings.json",
    ]


def test_unresolvable_reference_is_reported() -> None:
    common = {"common": {"ok": "OK"}}
    own = {"config": {"abort": {"done": "[%key:common::ok%]", "bad": "[%key:common::nope%]"}}}
    with pytest.raises(
        KeyError, match=r"unresolvable translation reference \[%key:common::nope%\]"
    ):
        TRANSLATIONS.resolve(own, common, own)
    del own["config"]["abort"]["bad"]
    assert TRANSLATIONS.resolve(own, common, own) == {"config": {"abort": {"done": "OK"}}}


def test_translation_keys_in_code_are_translated() -> None:
    usage = key_usage(integration_sources(), INTEGRATION.name, follow_imports=True)
    problems = key_problems(resolved_strings(), usage)
    assert not problems, "\n".join(problems)


KEY_SOURCES = {
    "sensor.py": 'DOMAIN = "x"\nTEMP = SensorEntityDescription(key="t", translation_key="temperature")\n',
    "binary_sensor.py": "class Door(BinarySensorEntity):\n    _attr_translation_key = 'door'\n",
    "helpers.py": (
        "def fail(host):\n"
        "    raise HomeAssistantError(translation_domain='x', translation_key='unreachable',\n"
        "                             translation_placeholders={'host': host})\n"
        "def other():\n"
        "    raise HomeAssistantError(translation_domain='homeassistant', translation_key='theirs')\n"
    ),
}
KEY_STRINGS = {
    "exceptions": {"unreachable": {"message": "Cannot reach {host}"}},
    "entity": {
        "sensor": {"temperature": {"name": "Temperature"}},
        "binary_sensor": {"door": {"name": "Door"}},
    },
}


def _key_problems(strings: dict[str, Any], sources: dict[str, str] = KEY_SOURCES) -> list[str]:
    return key_problems(strings, key_usage(sources, "x"))


def test_key_reader_on_known_code() -> None:
    assert _key_problems(KEY_STRINGS) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"exceptions": {}}, "exceptions.unreachable.message is missing (raised at helpers.py:2)"),
        (
            {"exceptions": {"unreachable": {"message": "No {address}"}}},
            "exceptions.unreachable.message uses ['address'], not passed at helpers.py:2",
        ),
        (
            {"exceptions": {"unreachable": {"message": "x"}, "gone": {"message": "x"}}},
            "exceptions.gone is never raised",
        ),
        (
            {"entity": {"binary_sensor": {"door": {"name": "Door"}}}},
            "entity.sensor.temperature.name is missing",
        ),
        (
            {"entity": {**KEY_STRINGS["entity"], "switch": {"power": {"name": "Power"}}}},
            "entity.switch.power is translated but no entity uses translation_key 'power'",
        ),
    ],
)
def test_key_problems_are_reported(change: dict[str, Any], expected: str) -> None:
    problems = _key_problems({**KEY_STRINGS, **change})
    assert expected in problems, problems


def test_selector_translation_problems_are_reported() -> None:
    source = 'SelectSelectorConfig(options=["a"], translation_key="kind")\n'
    assert _key_problems({}, {"flow.py": source}) == [
        "selector.kind.options is missing (used at flow.py:1)"
    ]
    assert _key_problems(
        {"selector": {"kind": {"options": {"a": "A"}}, "old": {"options": {"b": "B"}}}},
        {"flow.py": source},
    ) == ["selector.old is translated but no selector uses translation_key 'old'"]


def test_repair_issue_translation_problems_are_reported() -> None:
    source = 'issue = ir.async_create_issue(hass, "x", "id", translation_key="broken")\n'
    assert _key_problems({}, {"repairs.py": source}) == [
        "issues.broken.title/description is missing (raised at repairs.py:1)"
    ]
    assert _key_problems(
        {"issues": {"broken": {"title": "t", "description": "d"}, "old": {"title": "t"}}},
        {"repairs.py": source},
    ) == ["issues.old is translated but never raised"]


def test_unknown_translation_key_use_is_reported() -> None:
    source = 'issue = ir.async_delete_issue(hass, "x", "id", translation_key="broken")\n'
    assert _key_problems({}, {"repairs.py": source}) == [
        "repairs.py:1: translation_key='broken' in async_delete_issue() is not checked"
    ]
