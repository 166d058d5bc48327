"""Daily and monthly spending caps."""

from __future__ import annotations

import math

import pytest

from custom_components.jarvis.router.budget import Budget, BudgetCheck, BudgetLevel, budget_levels


def test_no_caps_allow_everything() -> None:
    verdict = Budget().check(spent_today=1_000.0, spent_month=1_000.0, estimate=5.0)
    assert verdict == BudgetCheck(True, "no budget configured", None)


def test_daily_cap_blocks_an_estimate_that_does_not_fit() -> None:
    budget = Budget(daily_usd=1.0, monthly_usd=20.0)
    verdict = budget.check(spent_today=0.98, spent_month=5.0, estimate=0.03)
    assert not verdict.allowed
    assert verdict.remaining_usd == pytest.approx(0.02)
    assert "daily budget" in verdict.reason
    assert "$0.0300" in verdict.reason


def test_the_tighter_cap_decides() -> None:
    budget = Budget(daily_usd=5.0, monthly_usd=20.0)
    verdict = budget.check(spent_today=0.5, spent_month=19.9, estimate=0.2)
    assert not verdict.allowed
    assert "monthly budget" in verdict.reason
    assert verdict.remaining_usd == pytest.approx(0.1)
    assert budget.check(spent_today=0.5, spent_month=19.0, estimate=0.2).allowed


def test_an_exact_fit_is_allowed() -> None:
    verdict = Budget(daily_usd=1.0).check(spent_today=0.75, spent_month=0.75, estimate=0.25)
    assert verdict.allowed
    assert verdict.remaining_usd == pytest.approx(0.25)


def test_free_calls_are_allowed_even_over_budget() -> None:
    verdict = Budget(daily_usd=1.0).check(spent_today=3.0, spent_month=3.0, estimate=0.0)
    assert verdict.allowed
    assert verdict.reason == "free call"
    assert not Budget(daily_usd=1.0).check(spent_today=3.0, spent_month=3.0, estimate=1e-9).allowed


def test_a_zero_cap_blocks_every_paid_call() -> None:
    assert not Budget(monthly_usd=0.0).check(0.0, 0.0, 0.0001).allowed


@pytest.mark.parametrize("cap", [-1.0, math.nan])
def test_nonsense_caps_are_refused(cap: float) -> None:
    with pytest.raises(ValueError, match="budget must be a non-negative amount"):
        Budget(daily_usd=cap)


@pytest.mark.parametrize(
    ("cap", "spent", "state", "fraction"),
    [
        (10.0, 0.0, "ok", 0.0),
        (10.0, 7.99, "ok", 0.799),
        (10.0, 8.0, "near", 0.8),
        (10.0, 9.99, "near", 0.999),
        (10.0, 10.0, "exhausted", 1.0),
        (10.0, 12.0, "exhausted", 1.2),
        (0.0, 0.0, "ok", 0.0),  # "never pay" is a setting, not an alarm
    ],
)
def test_budget_level_states(cap: float, spent: float, state: str, fraction: float) -> None:
    level = BudgetLevel("daily", cap, spent)
    assert level.state == state
    assert level.fraction == pytest.approx(fraction)


def test_budget_levels_only_for_configured_caps() -> None:
    assert budget_levels(Budget(), 1.0, 2.0) == []
    assert budget_levels(Budget(monthly_usd=5.0), 1.0, 2.0) == [BudgetLevel("monthly", 5.0, 2.0)]
    assert budget_levels(Budget(daily_usd=1.0, monthly_usd=5.0), 0.5, 2.0) == [
        BudgetLevel("daily", 1.0, 0.5),
        BudgetLevel("monthly", 5.0, 2.0),
    ]
