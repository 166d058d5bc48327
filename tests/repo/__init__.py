"""Repository checks: the integration's metadata, mirrored from hassfest and HACS validation.

hassfest and the HACS action only run on GitHub (Docker, a current core checkout). These tests
apply their cheap rules locally, reading the files; each rule is a validator returning a list of
problem strings, so a positive test asserts the real files give `[]` and a negative test feeds a
deliberately broken in-memory copy and asserts the problem is reported.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
import functools
import importlib
import importlib.util
import json
from pathlib import Path
import re
from types import ModuleType
from typing import Any

import homeassistant
import voluptuous as vol
from voluptuous.humanize import humanize_error
import yaml

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "custom_components" / "jarvis"
HA_PACKAGE = Path(homeassistant.__file__).parent  # the installed core
CORE_COMPONENTS = HA_PACKAGE / "components"

PLACEHOLDER = re.compile(r"\{(\w+)\}")
# hassfest translations.py RE_TRANSLATION_KEY: [a-z0-9-_]+, no leading/trailing/double separators.
RE_TRANSLATION_KEY = re.compile(r"^(?!.+[_-]{2})(?![_-])[a-z0-9-_]+(?<![_-])$")


def load_json(path: Path) -> Any:
    """A JSON file's content."""
    return json.loads(path.read_text(encoding="utf-8"))


def load_yaml(path: Path) -> Any:
    """A YAML file's content (these files use no HA tags such as !secret)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def schema_problems(schema: Callable[[Any], Any], data: Any, label: str) -> list[str]:
    """Every voluptuous error `schema` finds in `data`, in hassfest's wording."""
    try:
        schema(data)
    except vol.MultipleInvalid as err:
        return [f"{label}: {humanize_error(data, error)}" for error in err.errors]
    except vol.Invalid as err:
        return [f"{label}: {humanize_error(data, err)}"]
    return []


def leaves(tree: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, text) for every string in a nested mapping."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(tree, str):
        yield path, tree


def placeholders(text: str) -> set[str]:
    """The {placeholders} a translation string expects."""
    return set(PLACEHOLDER.findall(text))


def translation_key_validator(value: str) -> str:
    """hassfest translation_key_validator (used by the strings and the icons schema)."""
    if RE_TRANSLATION_KEY.match(value) is None:
        raise vol.Invalid(
            f"Invalid translation key '{value}', need to be [a-z0-9-_]+ and cannot start or end "
            "with a hyphen or underscore."
        )
    return value


def load_script(name: str) -> ModuleType:
    """Import scripts/<name>.py (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"jarvis_script_{name}", ROOT / "scripts" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _resolved_strings_text() -> str:
    return str(load_script("translations").build())


def resolved_strings() -> dict[str, Any]:
    """strings.json with [%key:...%] references resolved: what en.json must be (a fresh copy)."""
    return dict(json.loads(_resolved_strings_text()))


def integration_sources() -> dict[str, str]:
    """Relative path -> source text of every module of the integration."""
    return {
        path.relative_to(INTEGRATION).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(INTEGRATION.rglob("*.py"))
    }


# -- Static constant resolution ------------------------------------------------------------------
# The checks read names (`vol.Required(CONF_URL)`, `translation_key=KEY`) from the source; these
# helpers turn them into strings without importing the integration.


def _module_level_strings(tree: ast.Module) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in tree.body:
        target: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if (
            isinstance(target, ast.Name)
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            found[target.id] = value.value
    return found


def _relative_module(rel: str, module: str | None, level: int) -> str | None:
    """Source of the module `from <level dots><module> import` names, seen from INTEGRATION/rel."""
    base = (INTEGRATION / rel).parent
    for _ in range(level - 1):
        base = base.parent
    target = base.joinpath(*(module or "").split("."))
    for path in (target.with_suffix(".py"), target / "__init__.py"):
        if path.is_file() and path.is_relative_to(INTEGRATION):
            return path.read_text(encoding="utf-8")
    return None


def module_constants(tree: ast.Module, rel: str | None = None) -> dict[str, str]:
    """String constants visible at module level: own assignments and imported constants.

    With `rel` (the module's path inside custom_components/jarvis), `from .const import X` is
    followed into the integration's modules; names imported from `homeassistant.*` are looked up
    in the installed package.
    """
    constants: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level > 0 and rel is not None:
            source = _relative_module(rel, node.module, node.level)
            theirs = _module_level_strings(ast.parse(source)) if source else {}
            for alias in node.names:
                if alias.name in theirs:
                    constants[alias.asname or alias.name] = theirs[alias.name]
        elif node.level == 0 and (node.module or "").split(".")[0] == "homeassistant":
            module = importlib.import_module(str(node.module))
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if isinstance(value, str):
                    constants[alias.asname or alias.name] = value
    constants.update(_module_level_strings(tree))
    return constants


def resolve_str(node: ast.expr | None, constants: dict[str, str]) -> str | None:
    """The string an expression statically stands for, or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def call_name(call: ast.Call) -> str:
    """`foo` for foo(...), `bar` for x.y.bar(...)."""
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return ""


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The value of keyword argument `name`, if given."""
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def dict_keys(node: ast.expr | None, constants: dict[str, str]) -> set[str] | None:
    """Keys of a dict literal (None when absent -> empty set; non-literal -> None)."""
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return set()
    if not isinstance(node, ast.Dict):
        return None
    keys = {resolve_str(key, constants) for key in node.keys if key is not None}
    return None if None in keys else {key for key in keys if key is not None}
