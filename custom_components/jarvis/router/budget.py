"""Spending caps: whether a paid call estimated to cost this much may go ahead.

Pure: the caller supplies what was spent (from the ledger) and the estimate (pricing).
"""

from __future__ import annotations

from dataclasses import dataclass
import math


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """The verdict; remaining_usd is the tightest cap's headroom before this call (None: no cap)."""

    allowed: bool
    reason: str
    remaining_usd: float | None


@dataclass(frozen=True, slots=True)
class Budget:
    """Daily and monthly caps in USD; None means no cap."""

    daily_usd: float | None = None
    monthly_usd: float | None = None

    def __post_init__(self) -> None:
        """Refuse caps that cannot mean anything."""
        for label, cap in (("daily", self.daily_usd), ("monthly", self.monthly_usd)):
            if cap is not None and (math.isnan(cap) or cap < 0):
                raise ValueError(f"{label} budget must be a non-negative amount, got {cap!r}")

    def check(self, spent_today: float, spent_month: float, estimate: float) -> BudgetCheck:
        """Allow the call when its estimate fits under every configured cap.

        A call estimated at $0 (a free model) is always allowed, even over budget.
        """
        estimate = max(0.0, estimate)
        caps = [
            (label, cap, spent)
            for label, cap, spent in (
                ("daily", self.daily_usd, spent_today),
                ("monthly", self.monthly_usd, spent_month),
            )
            if cap is not None
        ]
        if not caps:
            return BudgetCheck(True, "no budget configured", None)
        label, cap, spent = min(caps, key=lambda c: c[1] - c[2])
        remaining = cap - spent
        if estimate == 0.0:
            return BudgetCheck(True, "free call", remaining)
        if estimate <= remaining:
            return BudgetCheck(
                True,
                f"estimate ${estimate:.4f} fits the {label} budget (${remaining:.4f} of ${cap:.2f} left)",
                remaining,
            )
        return BudgetCheck(
            False,
            f"estimate ${estimate:.4f} exceeds the {label} budget "
            f"(${spent:.4f} of ${cap:.2f} spent, ${max(0.0, remaining):.4f} left)",
            remaining,
        )


NEAR_FRACTION = 0.8  # warn at 80 % of a cap


@dataclass(frozen=True, slots=True)
class BudgetLevel:
    """How much of one cap is used: state is ok, near (>= NEAR_FRACTION) or exhausted."""

    period: str  # daily or monthly
    cap_usd: float
    spent_usd: float

    @property
    def fraction(self) -> float:
        """Spent / cap (a zero cap, i.e. 'never pay', counts as unused)."""
        return self.spent_usd / self.cap_usd if self.cap_usd > 0 else 0.0

    @property
    def state(self) -> str:
        """ok, near or exhausted."""
        if self.cap_usd <= 0:
            return "ok"  # a deliberate local-only setting, not an alarm
        if self.spent_usd >= self.cap_usd:
            return "exhausted"
        return "near" if self.fraction >= NEAR_FRACTION else "ok"


def budget_levels(budget: Budget, spent_today: float, spent_month: float) -> list[BudgetLevel]:
    """One level per configured cap of the budget."""
    return [
        BudgetLevel(period, cap, spent)
        for period, cap, spent in (
            ("daily", budget.daily_usd, spent_today),
            ("monthly", budget.monthly_usd, spent_month),
        )
        if cap is not None
    ]
