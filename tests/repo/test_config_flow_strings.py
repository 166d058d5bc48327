"""The config flow's strings: every form, field, error, abort reason and placeholder translated.

The flow is read with `ast` (nothing is imported or run): which steps call async_show_form /
async_show_menu and with which step_id, the fields of each form's data_schema, the error codes put
in `errors`, the abort reasons, including the ones Home Assistant raises for the flow
(homeassistant/config_entries.py: async_set_unique_id -> already_in_progress,
_abort_if_unique_id_configured -> already_configured, async_update_reload_and_abort ->
reauth_successful / reconfigure_successful, _abort_if_unique_id_mismatch -> unique_id_mismatch).
Discovery steps that only hand over to another step (async_step_hassio) need no strings.
Translations are checked as the frontend gets them: strings.json with references resolved.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from . import (
    INTEGRATION,
    call_name,
    dict_keys,
    keyword,
    leaves,
    module_constants,
    placeholders,
    resolve_str,
    resolved_strings,
)

# -- the config flow, read statically -------------------------------------------------------------

# Flow base class -> the strings.json section its steps are translated in.
FLOW_SECTIONS = {
    "ConfigFlow": "config",
    "OptionsFlow": "options",
    "OptionsFlowWithReload": "options",
}


@dataclass
class Form:
    """One async_show_form / async_show_menu call."""

    step_id: str
    fields: set[str] | None  # None: the schema could not be read
    placeholders: set[str] | None  # None: description_placeholders is not a literal
    line: int
    menu: bool = False


@dataclass
class FlowUsage:
    """What a flow module shows, which errors and abort reasons it can produce."""

    forms: list[Form] = field(default_factory=list)
    errors: set[str] = field(default_factory=set)
    aborts: set[str] = field(default_factory=set)
    title_placeholders: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)


class _FlowReader:
    def __init__(self, tree: ast.Module, constants: dict[str, str]) -> None:
        self.constants = constants
        self.functions = {
            n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        self.assigns = {
            t.id: n.value
            for n in tree.body
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }

    def schema_fields(
        self, node: ast.expr | None, scope: ast.AST, depth: int = 0
    ) -> set[str] | None:
        """Field keys of a data_schema expression (literal, helper function, variable)."""
        if node is None or (isinstance(node, ast.Constant) and node.value is None):
            return set()
        if depth > 5:
            return None
        if isinstance(node, ast.Name):
            local = [
                n.value
                for n in ast.walk(scope)
                if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == node.id for t in n.targets)
            ]
            value = local[-1] if local else self.assigns.get(node.id)
            return None if value is None else self.schema_fields(value, scope, depth + 1)
        if not isinstance(node, ast.Call):
            return None
        name = call_name(node)
        if name == "Schema" and node.args and isinstance(node.args[0], ast.Dict):
            keys: set[str] = set()
            for key in node.args[0].keys:
                marker = key
                if isinstance(key, ast.Call) and call_name(key) in ("Required", "Optional"):
                    marker = key.args[0] if key.args else None
                resolved = resolve_str(marker, self.constants)
                if resolved is None:
                    return None
                keys.add(resolved)
            return keys
        if name == "add_suggested_values_to_schema" and node.args:
            return self.schema_fields(node.args[0], scope, depth + 1)
        if isinstance(node.func, ast.Name) and (func := self.functions.get(node.func.id)):
            found: set[str] = set()
            for ret in (n for n in ast.walk(func) if isinstance(n, ast.Return)):
                fields = self.schema_fields(ret.value, func, depth + 1)
                if fields is None:
                    return None
                found |= fields
            return found
        return None

    def returned_error_codes(self, call: ast.expr, cls: ast.ClassDef) -> set[str]:
        """Error codes in dict literals returned by the helper a call invokes."""
        if isinstance(call, ast.Await):
            call = call.value
        if not isinstance(call, ast.Call):
            return set()
        methods = {
            n.name: n for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        func = methods.get(call_name(call)) or self.functions.get(call_name(call))
        codes: set[str] = set()
        for ret in (n for n in ast.walk(func) if isinstance(n, ast.Return)) if func else ():
            for node in ast.walk(ret):
                if isinstance(node, ast.Dict):
                    codes |= {
                        v.value
                        for v in node.values
                        if isinstance(v, ast.Constant) and isinstance(v.value, str)
                    }
        return codes


def _targets_errors(target: ast.expr) -> bool:
    elts = target.elts if isinstance(target, ast.Tuple) else [target]
    return any(isinstance(t, ast.Name) and t.id == "errors" for t in elts)


def flow_usage(source: str, constants: dict[str, str]) -> dict[str, FlowUsage]:
    """Forms, error codes and abort reasons of the flow classes in a config_flow.py, by section."""
    tree = ast.parse(source)
    reader = _FlowReader(tree, constants)
    usages: dict[str, FlowUsage] = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in cls.bases]
        section = next((FLOW_SECTIONS[b] for b in bases if b in FLOW_SECTIONS), None)
        if section is None:
            continue
        usage = usages.setdefault(section, FlowUsage())
        for func in (n for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            _read_function(func, cls, reader, usage)
    return usages


def _read_function(
    func: ast.FunctionDef | ast.AsyncFunctionDef,
    cls: ast.ClassDef,
    reader: _FlowReader,
    usage: FlowUsage,
) -> None:
    constants = reader.constants
    where = f"config_flow.py:{func.name}"
    step = func.name.removeprefix("async_step_") if func.name.startswith("async_step_") else None
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and any(_targets_errors(t) for t in node.targets):
            if isinstance(node.value, ast.Dict):
                usage.errors |= {
                    v for v in (resolve_str(x, constants) for x in node.value.values) if v
                }
            else:
                usage.errors |= reader.returned_error_codes(node.value, cls)
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            target = node.targets[0]
            if isinstance(target.value, ast.Name) and target.value.id == "errors":
                if code := resolve_str(node.value, constants):
                    usage.errors.add(code)
            elif resolve_str(target.slice, constants) == "title_placeholders":
                usage.title_placeholders |= dict_keys(node.value, constants) or set()
        if not isinstance(node, ast.Call):
            continue
        name, reason = call_name(node), keyword(node, "reason")
        if name in ("async_show_form", "async_show_menu"):
            step_id = resolve_str(keyword(node, "step_id"), constants) or step
            if step_id is None:
                usage.unresolved.append(f"{where}: cannot tell the step_id of a form")
                continue
            menu = name == "async_show_menu"
            fields = set() if menu else reader.schema_fields(keyword(node, "data_schema"), func)
            if fields is None:
                usage.unresolved.append(f"{where}: cannot read the fields of form {step_id!r}")
            if menu and isinstance(options := keyword(node, "menu_options"), ast.List | ast.Tuple):
                fields = {v for v in (resolve_str(e, constants) for e in options.elts) if v}
            provided = dict_keys(keyword(node, "description_placeholders"), constants)
            if provided is not None and step_id.startswith("reauth"):
                provided.add("name")  # ConfigFlow.async_show_form adds the entry's title
            usage.forms.append(Form(step_id, fields, provided, node.lineno, menu))
            if isinstance(errs := keyword(node, "errors"), ast.Dict):
                usage.errors |= {v for v in (resolve_str(x, constants) for x in errs.values) if v}
        elif name == "async_abort":
            if (code := resolve_str(reason, constants)) is not None:
                usage.aborts.add(code)
            elif reason is not None and any(
                isinstance(n, ast.Name) and n.id == "errors" for n in ast.walk(reason)
            ):
                usage.aborts.add("<error codes>")  # aborts with one of the form's error codes
            else:
                usage.unresolved.append(f"{where}:{node.lineno}: abort reason is not a literal")
        elif name in ("_abort_if_unique_id_configured", "_async_abort_entries_match"):
            usage.aborts.add("already_configured")
        elif name == "_abort_if_unique_id_mismatch":
            usage.aborts.add(resolve_str(reason, constants) or "unique_id_mismatch")
        elif name == "async_set_unique_id":
            raise_on_progress = keyword(node, "raise_on_progress")
            if not (
                isinstance(raise_on_progress, ast.Constant) and raise_on_progress.value is False
            ):
                usage.aborts.add("already_in_progress")
        elif name in ("async_update_reload_and_abort", "async_update_and_abort"):
            if (code := resolve_str(reason, constants)) is not None:
                usage.aborts.add(code)
            else:  # the default reason follows the flow's source
                sources = {s for s in ("reauth", "reconfigure") if s in func.name}
                usage.aborts |= {f"{s}_successful" for s in sources or {"reauth", "reconfigure"}}
        elif name == "_async_handle_discovery_without_unique_id":
            usage.aborts |= {"already_configured", "already_in_progress"}
        elif name == "AbortFlow" and node.args and (code := resolve_str(node.args[0], constants)):
            usage.aborts.add(code)


def flow_string_problems(
    strings: Mapping[str, Any], usage: FlowUsage, section: str = "config"
) -> list[str]:
    """Every shown form, error code and abort reason translated; nothing translated that is unused."""
    flow = strings.get(section, {})
    steps, errors, aborts = flow.get("step", {}), flow.get("error", {}), flow.get("abort", {})
    problems = list(usage.unresolved)
    for form in usage.forms:
        key = f"{section}.step.{form.step_id}"
        if form.step_id not in steps:
            problems.append(f"{key} is missing (config_flow.py:{form.line} shows that form)")
            continue
        step = steps[form.step_id]
        parts = ("menu_options",) if form.menu else ("data", "data_description")
        for part in parts:
            translated, fields = set(step.get(part, {})), form.fields or set()
            problems += [f"{key}.{part}.{name} is missing" for name in sorted(fields - translated)]
            if form.fields is not None:
                problems += [
                    f"{key}.{part}.{name} is not a field of the form"
                    for name in sorted(translated - fields)
                ]
        if form.placeholders is not None:
            for path, text in leaves({k: v for k, v in step.items() if k != "data"}):
                problems += [
                    f"{key}.{path} uses {{{name}}}, which config_flow.py:{form.line} does not provide"
                    for name in sorted(placeholders(text) - form.placeholders)
                ]
    shown = {form.step_id for form in usage.forms}
    problems += [
        f"{section}.step.{s} is translated but no form shows it" for s in sorted(set(steps) - shown)
    ]
    needed_aborts = (usage.aborts - {"<error codes>"}) | (
        usage.errors if "<error codes>" in usage.aborts else set()
    )
    problems += [f"{section}.error.{e} is missing" for e in sorted(usage.errors - set(errors))]
    problems += [f"{section}.abort.{a} is missing" for a in sorted(needed_aborts - set(aborts))]
    problems += [f"{section}.error.{e} is never used" for e in sorted(set(errors) - usage.errors)]
    problems += [f"{section}.abort.{a} is never used" for a in sorted(set(aborts) - needed_aborts)]
    if "flow_title" in flow:
        problems += [
            f"{section}.flow_title uses {{{name}}}, but no title_placeholders provide it"
            for name in sorted(placeholders(flow["flow_title"]) - usage.title_placeholders)
        ]
    return problems


# -- tests ----------------------------------------------------------------------------------------


def all_flow_problems(strings: Mapping[str, Any], usages: Mapping[str, FlowUsage]) -> list[str]:
    """Each flow section against its strings; a translated section without a flow is all stray."""
    sections = set(usages) | (set(FLOW_SECTIONS.values()) & set(strings))
    return [
        problem
        for section in sorted(sections)
        for problem in flow_string_problems(strings, usages.get(section, FlowUsage()), section)
    ]


def test_config_flow_is_fully_translated() -> None:
    source = (INTEGRATION / "config_flow.py").read_text(encoding="utf-8")
    usages = flow_usage(source, module_constants(ast.parse(source), "config_flow.py"))
    assert "config" in usages, "config_flow.py has no ConfigFlow class"
    problems = all_flow_problems(resolved_strings(), usages)
    assert not problems, "\n".join(problems)


FLOW_SOURCE = """
class Flow(ConfigFlow, domain="x"):
    async def _check(self, data):
        try:
            ...
        except Exception:
            return None, {"base": "cannot_connect"}
        return 1, {}

    async def async_step_user(self, user_input=None):
        errors = {}
        if user_input is not None:
            ok, errors = await self._check(user_input)
            errors["host"] = "invalid_host"
            await self.async_set_unique_id("id")
            self._abort_if_unique_id_configured()
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema({vol.Required(CONF_HOST): str, vol.Optional("port"): int}),
            errors=errors,
            description_placeholders={"docs": "..."},
        )

    async def async_step_zeroconf(self, info):
        return self.async_abort(reason="not_supported")

    async def async_step_reauth_confirm(self, user_input=None):
        if user_input:
            return self.async_update_reload_and_abort(self._get_reauth_entry(), data=user_input)
        return self.async_show_form(step_id="reauth_confirm")
"""
FLOW_STRINGS = {
    "config": {
        "step": {
            "user": {
                "description": "See {docs}",
                "data": {"host": "Host", "port": "Port"},
                "data_description": {"host": "The host", "port": "The port"},
            },
            "reauth_confirm": {"title": "Reauthenticate {name}"},
        },
        "error": {"cannot_connect": "x", "invalid_host": "x"},
        "abort": {
            "already_configured": "x", "already_in_progress": "x", "not_supported": "x",
            "reauth_successful": "x",
        },
    }
}  # fmt: skip


def _flow_problems(strings: dict[str, Any], source: str = FLOW_SOURCE) -> list[str]:
    return all_flow_problems(strings, flow_usage(source, {"CONF_HOST": "host"}))


def test_flow_reader_on_a_known_flow() -> None:
    assert _flow_problems(FLOW_STRINGS) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("step", "user"), None, "config.step.user is missing (config_flow.py:"),
        (("step", "user", "data", "port"), None, "config.step.user.data.port is missing"),
        (
            ("step", "user", "data_description", "host"),
            None,
            "config.step.user.data_description.host is missing",
        ),
        (
            ("step", "user", "data", "extra"),
            "x",
            "config.step.user.data.extra is not a field of the form",
        ),
        (("step", "user", "description"), "See {doc}", "config.step.user.description uses {doc}"),
        (
            ("step", "options"),
            {"title": "x"},
            "config.step.options is translated but no form shows it",
        ),
        (("error", "cannot_connect"), None, "config.error.cannot_connect is missing"),
        (("error", "invalid_host"), None, "config.error.invalid_host is missing"),
        (("error", "timeout"), "x", "config.error.timeout is never used"),
        (("abort", "not_supported"), None, "config.abort.not_supported is missing"),
        (("abort", "already_in_progress"), None, "config.abort.already_in_progress is missing"),
        (("abort", "reauth_successful"), None, "config.abort.reauth_successful is missing"),
        (("abort", "unknown"), "x", "config.abort.unknown is never used"),
        (("flow_title",), "{model}", "config.flow_title uses {model}"),
    ],
)
def test_flow_problems_are_reported(path: tuple[str, ...], value: Any, expected: str) -> None:
    strings = copy.deepcopy(FLOW_STRINGS)
    node = strings["config"]
    for part in path[:-1]:
        node = node[part]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    problems = _flow_problems(strings)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_options_strings_without_options_flow_are_reported() -> None:
    strings = {**FLOW_STRINGS, "options": {"step": {"init": {"title": "Options"}}}}
    assert _flow_problems(strings) == ["options.step.init is translated but no form shows it"]


def test_unreadable_flow_is_reported() -> None:
    source = FLOW_SOURCE.replace('reason="not_supported"', "reason=compute()").replace(
        "data_schema=vol.Schema(", "data_schema=make_schema(self, "
    )
    problems = _flow_problems(FLOW_STRINGS, source)
    assert "config_flow.py:async_step_user: cannot read the fields of form 'user'" in problems
    assert any("abort reason is not a literal" in problem for problem in problems)
