"""Options validation: every Supervisor schema type, defaults, and all problems reported at once."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from jarvis_addon.settings import (
    DEFAULT_OPTIONS,
    SCHEMA,
    OptionsError,
    SchemaType,
    Settings,
    parse_schema,
    parse_type,
    validate_options,
)
from tests.addons.layout import ADDON_DIR


def problems_of(raw: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    with pytest.raises(OptionsError) as info:
        validate_options(raw, schema)
    problems: list[str] = info.value.problems
    return problems


def test_schema_and_defaults_equal_config_yaml() -> None:
    config = yaml.safe_load((ADDON_DIR / "config.yaml").read_text())
    assert config["schema"] == SCHEMA
    assert config["options"] == DEFAULT_OPTIONS


def test_defaults_fill_an_empty_options_file() -> None:
    settings = Settings.from_options({})
    assert settings == Settings(log_level="info", mqtt_port=1883)
    assert settings.api_token is None and settings.mqtt_host is None
    # The local model is on by default, on one thread, with the bundled model.
    assert (settings.llm_enabled, settings.llm_threads, settings.llm_model_path) == (True, 1, None)


def test_llm_options_are_coerced() -> None:
    settings = Settings.from_options(
        {"llm_enabled": "off", "llm_threads": "4", "llm_model_path": "/share/m.gguf"}
    )
    assert (settings.llm_enabled, settings.llm_threads, settings.llm_model_path) == (
        False,
        4,
        "/share/m.gguf",
    )
    assert Settings.from_options({"llm_model_path": ""}).llm_model_path is None


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"llm_threads": 0}, "llm_threads: expected an integer 1-16, got 0"),
        ({"llm_threads": 17}, "llm_threads: expected an integer 1-16, got 17"),
        ({"llm_threads": 1.5}, "llm_threads: expected an integer, got 1.5"),
        ({"llm_enabled": "maybe"}, "llm_enabled: expected true or false, got 'maybe'"),
        ({"llm_enabled": None}, "missing required option 'llm_enabled'"),
        ({"llm_model_path": {"a": 1}}, "llm_model_path: expected a string, got {'a': 1}"),
    ],
)
def test_bad_llm_options_name_the_field(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(OptionsError) as info:
        Settings.from_options(options)
    assert info.value.problems == [problem]


def test_full_options_are_coerced() -> None:
    settings = Settings.from_options(
        {
            "log_level": "debug",
            "api_token": "t0ken-value",
            "mqtt_host": "broker.local",
            "mqtt_port": "1884",
            "mqtt_username": "jarvis",
            "mqtt_password": "pw-secret",
        }
    )
    assert settings == Settings("debug", "t0ken-value", "broker.local", 1884, "jarvis", "pw-secret")


def test_empty_and_null_optionals_mean_unset() -> None:
    settings = Settings.from_options(
        {"api_token": "", "mqtt_host": None, "mqtt_port": None, "mqtt_username": ""}
    )
    assert (settings.api_token, settings.mqtt_host, settings.mqtt_port, settings.mqtt_username) == (
        None,
        None,
        1883,
        None,
    )


def test_repr_hides_secrets() -> None:
    settings = Settings.from_options({"api_token": "tok-abcdef", "mqtt_password": "pw-abcdef"})
    assert "tok-abcdef" not in repr(settings)
    assert "pw-abcdef" not in repr(settings)


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(OptionsError) as info:
        Settings.from_options(
            {"log_level": "loud", "mqtt_port": "abc", "foo": 1, "api_token": 5.5j}
        )
    assert sorted(info.value.problems) == sorted(
        [
            "log_level: expected one of debug|info|warning|error, got 'loud'",
            "mqtt_port: expected a port 1-65535, got 'abc'",
            "unknown option 'foo'",
            "api_token: expected a string, got <hidden>",
        ]
    )


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ("str", "text", "text"),
        ("str", 42, "42"),
        ("str(2,4)", "abc", "abc"),
        ("password", "s3cret", "s3cret"),
        ("bool", True, True),
        ("bool", "yes", True),
        ("bool", "off", False),
        ("int", 7, 7),
        ("int", "-3", -3),
        ("int", 4.0, 4),
        ("int(1,10)", 10, 10),
        ("int(,10)", -50, -50),
        ("int(5,)", 500, 500),
        ("float", "2.5", 2.5),
        ("float", 3, 3.0),
        ("float(0.5,2.5)", 0.5, 0.5),
        ("email", "dev@jarvis-workshop.dev", "dev@jarvis-workshop.dev"),
        ("url", "http://printer.local:5000/api", "http://printer.local:5000/api"),
        ("port", 1, 1),
        ("port", "65535", 65535),
        ("match(^[a-z]+$)", "abc", "abc"),
        ("match([0-9]{3})", "123x", "123x"),  # anchored at the start only, as the Supervisor does
        ("list(a|b|c)", "b", "b"),
        ("device(subsystem=tty)", "/dev/ttyUSB0", "/dev/ttyUSB0"),
    ],
)
def test_valid_values(spec: str, value: Any, expected: Any) -> None:
    assert validate_options({"x": value}, {"x": spec}) == {"x": expected}


@pytest.mark.parametrize(
    ("spec", "value", "problem"),
    [
        ("str", ["a"], "x: expected a string, got ['a']"),
        ("str(2,4)", "abcde", "x: expected a string of 2-4 characters, got 'abcde'"),
        ("bool", "maybe", "x: expected true or false, got 'maybe'"),
        ("int", "abc", "x: expected an integer, got 'abc'"),
        ("int", True, "x: expected an integer, got True"),
        ("int", 1.5, "x: expected an integer, got 1.5"),
        ("int(1,10)", 0, "x: expected an integer 1-10, got 0"),
        ("int(1,10)", 11, "x: expected an integer 1-10, got 11"),
        ("int(,10)", 11, "x: expected an integer at most 10, got 11"),
        ("int(5,)", 4, "x: expected an integer at least 5, got 4"),
        ("float", "fast", "x: expected a number, got 'fast'"),
        ("float(0.5,2.5)", 2.6, "x: expected a number 0.5-2.5, got 2.6"),
        ("email", "not-an-address", "x: expected an email address, got 'not-an-address'"),
        (
            "url",
            "printer.local",
            "x: expected a URL such as http://host:port/path, got 'printer.local'",
        ),
        ("port", 0, "x: expected a port 1-65535, got 0"),
        ("port", 65536, "x: expected a port 1-65535, got 65536"),
        ("port", "abc", "x: expected a port 1-65535, got 'abc'"),
        ("match(^[a-z]+$)", "ABC", "x: expected a value matching ^[a-z]+$, got 'ABC'"),
        ("list(a|b|c)", "d", "x: expected one of a|b|c, got 'd'"),
    ],
)
def test_invalid_values_name_the_field(spec: str, value: Any, problem: str) -> None:
    assert problems_of({"x": value}, {"x": spec}) == [problem]


def test_password_values_are_never_echoed() -> None:
    problems = problems_of({"pw": "short"}, {"pw": "password(8,)"})
    assert problems == ["pw: expected a string of at least 8 characters, got <hidden>"]


def test_optional_and_required() -> None:
    schema = {"need": "str", "maybe": "int?", "tags": ["str?"], "opts": {"a": "int"}}
    assert validate_options({"need": "x"}, schema) == {"need": "x"}
    assert problems_of({}, schema) == ["missing required option 'need'"]
    # null is "unset": fine when optional, missing when required
    assert validate_options({"need": "x", "maybe": None}, schema) == {"need": "x"}
    assert problems_of({"need": None}, schema) == ["missing required option 'need'"]
    assert problems_of({}, {"tags": ["str"]}) == ["missing required option 'tags'"]


def test_lists_and_nested_dicts() -> None:
    schema = {
        "hosts": ["str"],
        "ports": ["port"],
        "printer": {"name": "str", "baud": "int(9600,250000)?"},
    }
    ok = {"hosts": ["a", "b"], "ports": [1883, "8883"], "printer": {"name": "mk4"}}
    assert validate_options(ok, schema) == {
        "hosts": ["a", "b"],
        "ports": [1883, 8883],
        "printer": {"name": "mk4"},
    }
    bad = {"hosts": "a", "ports": [1883, "x", 0], "printer": {"baud": 5, "color": "red"}}
    assert sorted(problems_of(bad, schema)) == sorted(
        [
            "hosts: expected a list, got 'a'",
            "ports[1]: expected a port 1-65535, got 'x'",
            "ports[2]: expected a port 1-65535, got 0",
            "printer.baud: expected an integer 9600-250000, got 5",
            "unknown option 'printer.color'",
            "missing required option 'printer.name'",
        ]
    )


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("str", SchemaType("str")),
        ("str?", SchemaType("str", optional=True)),
        ("int(1,10)", SchemaType("int", minimum=1, maximum=10)),
        ("int(,10)?", SchemaType("int", optional=True, maximum=10)),
        ("float(0.5,)", SchemaType("float", minimum=0.5)),
        ("list(debug|info)", SchemaType("list", choices=("debug", "info"))),
        ("match(^a|b$)?", SchemaType("match", optional=True, pattern="^a|b$")),
        ("password(8,)", SchemaType("password", minimum=8)),
        ("port", SchemaType("port")),
    ],
)
def test_parse_type(spec: str, parsed: SchemaType) -> None:
    assert parse_type(spec) == parsed


@pytest.mark.parametrize(
    "spec",
    ["", "?", "string", "int(a,b)", "int(10,1)", "list()", "match([)", "int(-1,5)", "bool??"],
)
def test_parse_type_rejects_what_the_supervisor_rejects(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_type(spec)


def test_parse_schema_checks_nesting() -> None:
    parse_schema(SCHEMA)
    parse_schema({"a": ["int"], "b": {"c": "str", "d": [{"e": "port"}]}})
    with pytest.raises(ValueError, match=r"^b\.c: unknown schema type 'nope'$"):
        parse_schema({"b": {"c": "nope"}})
    with pytest.raises(ValueError, match=r"^a: a list schema holds exactly one type"):
        parse_schema({"a": [["int"]]})
    with pytest.raises(ValueError, match=r"^b\.d\.e: unknown schema type"):
        parse_schema({"b": {"d": [{"e": "porty"}]}})
    with pytest.raises(ValueError, match="exactly one type"):
        parse_schema({"a": ["int", "str"]})
