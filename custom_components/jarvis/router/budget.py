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
