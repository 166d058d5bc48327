"""quality_scale.yaml: hassfest's schema and tier rule, which hassfest skips for custom integrations.

Upstream: home-assistant/core script/hassfest/quality_scale.py (ALL_RULES, SCHEMA,
validate_iqs_file). Rule pages: https://developers.home-assistant.io/docs/core/integration-quality-scale/rules
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import voluptuous as vol

from . import INTEGRATION, load_json, load_yaml, schema_problems

TIERS = ("bronze", "silver", "gold", "platinum")

# ALL_RULES, tier by tier, in upstream order.
RULES: dict[str, tuple[str, ...]] = {
    "bronze": (
        "action-setup", "appropriate-polling", "brands", "common-modules", "config-flow",
        "config-flow-test-coverage", "dependency-transparency", "docs-actions",
        "docs-high-level-description", "docs-installation-instructions",
        "docs-removal-instructions", "entity-event-setup", "entity-unique-id", "has-entity-name",
        "runtime-data", "test-before-configure", "test-before-setup", "unique-config-entry",
    ),
    "silver": (
        "action-exceptions", "config-entry-unloading", "docs-configuration-parameters",
        "docs-installation-parameters", "entity-unavailable", "integration-owner",
        "log-when-unavailable", "parallel-updates", "reauthentication-flow", "test-coverage",
    ),
    "gold": (
        "devices", "diagnostics", "discovery", "discovery-update-info", "docs-data-update",
        "docs-examples", "docs-known-limitations", "docs-supported-devices",
        "docs-supported-functions", "docs-troubleshooting", "docs-use-cases", "dynamic-devices",
        "entity-category", "entity-device-class", "entity-disabled-by-default",
        "entity-translations", "exception-translations", "icon-translations",
        "reconfiguration-flow", "repair-issues", "stale-devices",
    ),
    "platinum": ("async-dependency", "inject-websession", "strict-typing"),
}  # fmt: skip
ALL_RULES = [rule for tier in TIERS for rule in RULES[tier]]


# hassfest SCHEMA; `exempt` only in the long form, with a comment.
SCHEMA = vol.Schema(
    {
        vol.Required("rules"): vol.Schema(
            {
                vol.Optional(rule): vol.Any(
                    vol.In(["todo", "done"]),
                    vol.Schema(
                        {
                            vol.Required("status"): vol.In(["todo", "done"]),
                            vol.Optional("comment"): str,
                        }
                    ),
                    vol.Schema({vol.Required("status"): "exempt", vol.Required("comment"): str}),
                )
                for rule in ALL_RULES
            }
        )
    }
)


def _status(value: Any) -> Any:
    return value.get("status") if isinstance(value, dict) else value


def quality_scale_problems(data: Any, claimed: str | None) -> list[str]:
    """Schema, every rule assessed (none unknown, none missing), and the claimed tier complete."""
    problems = schema_problems(SCHEMA, data, "quality_scale.yaml")
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, dict):
        return problems
    problems += [
        f"quality_scale.yaml {rule}: an exempt rule needs a comment saying why"
        for rule, value in rules.items()
        if isinstance(value, dict)
        and value.get("status") == "exempt"
        and not str(value.get("comment") or "").strip()
    ]
    if missing := [rule for rule in ALL_RULES if rule not in rules]:
        problems.append(
            f"quality_scale.yaml does not assess {missing}; add each as todo/done/exempt"
        )
    if claimed is None or claimed not in TIERS:
        return problems
    met = {rule for rule, value in rules.items() if _status(value) in ("done", "exempt")}
    for tier in TIERS[: TIERS.index(claimed) + 1]:
        if unmet := [rule for rule in RULES[tier] if rule not in met]:
            problems.append(
                f"manifest.json claims quality_scale {claimed!r}, but {tier} rules are not done or "
                f"exempt: {unmet}"
            )
    return problems


DATA = load_yaml(INTEGRATION / "quality_scale.yaml")
CLAIMED = load_json(INTEGRATION / "manifest.json").get("quality_scale")


def test_rule_list_matches_upstream_counts() -> None:
    # 52 rules: 18 bronze, 10 silver, 21 gold, 3 platinum (hassfest ALL_RULES).
    assert [len(RULES[tier]) for tier in TIERS] == [18, 10, 21, 3]
    assert len(set(ALL_RULES)) == 52


def test_quality_scale_is_valid_and_claimed_tier_is_met() -> None:
    problems = quality_scale_problems(DATA, CLAIMED)
    assert not problems, "\n".join(problems)


def _with(rule: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(DATA)
    if value is None:
        del data["rules"][rule]
    else:
        data["rules"][rule] = value
    return data


@pytest.mark.parametrize(
    ("data", "claimed", "expected"),
    [
        (
            _with("warp-drive", "done"),
            "bronze",
            "extra keys not allowed @ data['rules']['warp-drive']",
        ),
        (_with("brands", "exempt"), "bronze", "data['rules']['brands']"),
        (_with("brands", {"status": "exempt"}), "bronze", "data['rules']['brands']"),
        (
            _with("brands", {"status": "exempt", "comment": " "}),
            "bronze",
            "brands: an exempt rule needs a comment",
        ),
        (_with("brands", "finished"), "bronze", "data['rules']['brands']"),
        (_with("stale-devices", None), None, "does not assess ['stale-devices']"),
        (
            _with("config-flow", "todo"),
            "bronze",
            "bronze rules are not done or exempt: ['config-flow']",
        ),
        (
            _with("test-coverage", "todo"),
            "silver",
            "silver rules are not done or exempt: ['test-coverage']",
        ),
        (
            _with("docs-examples", "todo"),
            "gold",
            "gold rules are not done or exempt: ['docs-examples'",
        ),
        ({"rule": {}}, None, "required key not provided @ data['rules']"),
    ],
)
def test_quality_scale_problems_are_reported(data: Any, claimed: str | None, expected: str) -> None:
    assert any(expected in problem for problem in quality_scale_problems(data, claimed))


def test_exempt_with_comment_is_accepted() -> None:
    data = _with("brands", {"status": "exempt", "comment": "No brand, it is a service."})
    assert quality_scale_problems(data, "bronze") == []
