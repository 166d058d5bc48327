"""Spend and metrics queries on a big ledger: the indexed `costs` table vs the version-1 JSON scan.

Before every paid call the agent reads its spend today and this month; the router sensors read
spend, stats and latency percentiles after every decision. This fills one ledger with N records
over 30 days (a third of them paid, every tenth one escalated), then times, on the same file:
- baseline: version 1's spend query (json_each over every record's attempts since the month start);
- spend(): the same answer from the indexed `costs` table;
- stats(): counts, escalations and p50/p95 per tier for today (what the sensors refresh).
Printed as p50 / p95 in milliseconds with the p50 ratio to the baseline.

    .venv/bin/python benchmarks/ledger_spend.py [--records 100000] [--iterations 50]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
import statistics
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from custom_components.jarvis.router.ledger import DecisionRecord, Ledger, _micros  # noqa: E402

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


def fill(ledger: Ledger, records: int) -> None:
    """Records spread evenly over the last 30 days."""
    step = timedelta(days=30) / records
    for i in range(records):
        paid = i % 3 == 0
        attempts = [{"tier": "t1", "name": "llama", "outcome": "accepted", "cost_usd": 0.0}]
        if paid:
            attempts = [
                {"tier": "t1", "name": "llama", "outcome": "low_confidence", "cost_usd": 0.0},
                {"tier": "t2", "name": "gpt", "outcome": "accepted", "cost_usd": 0.0021},
            ]
        ledger.append(
            DecisionRecord(
                created_at=NOW - step * i,
                agent_id=f"agent-{i % 2}",
                text="how do I stop warping on the big printer",
                tier="t2" if paid else "t1",
                provider="gpt" if paid else "llama",
                attempts=attempts,
                cost_usd=0.0021 if paid else 0.0,
                latency_ms=400.0 + (i % 900),
            )
        )


def v1_spend(ledger: Ledger, since: datetime, agent_id: str) -> dict[str, float]:
    """What version 1 did: parse every record's attempts since then."""
    conn = ledger._connection()  # noqa: SLF001 - the benchmark reads the same file the old way
    rows = conn.execute(
        "SELECT json_extract(a.value, '$.name') AS name,"
        " SUM(COALESCE(json_extract(a.value, '$.cost_usd'), 0)) AS cost"
        " FROM decisions, json_each(decisions.data, '$.attempts') AS a"
        " WHERE created_at >= ? AND agent_id = ? GROUP BY name",
        (_micros(since), agent_id),
    ).fetchall()
    return {str(r["name"]): float(r["cost"]) for r in rows if r["cost"]}


def timed(fn: Callable[[], object], iterations: int) -> list[float]:
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def report(label: str, samples: list[float], baseline: float | None) -> float:
    p50 = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[18]
    ratio = "" if baseline is None else f"  ({p50 / baseline:.4f}x the baseline)"
    print(f"{label:<44} p50 {p50:8.3f} ms  p95 {p95:8.3f} ms{ratio}")
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Ledger(Path(tmp) / "ledger.db") as ledger:
        start = time.perf_counter()
        fill(ledger, args.records)
        print(
            f"ledger: {args.records} records over 30 days, filled in {time.perf_counter() - start:.1f} s"
        )
        day = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
        month = day.replace(day=1)
        old = v1_spend(ledger, month, "agent-0")
        new = ledger.spend(month, agent_id="agent-0")
        assert old.keys() == new.keys() and all(abs(old[k] - new[k]) < 1e-9 for k in old), (
            old,
            new,
        )
        base = report(
            "baseline: v1 JSON scan, month, one agent",
            timed(lambda: v1_spend(ledger, month, "agent-0"), args.iterations),
            None,
        )
        report(
            "spend(): costs table, month, one agent",
            timed(lambda: ledger.spend(month, agent_id="agent-0"), args.iterations),
            base,
        )
        report(
            "spend(): costs table, today, one agent",
            timed(lambda: ledger.spend(day, agent_id="agent-0"), args.iterations),
            base,
        )
        report(
            "stats(): today, p50/p95 per tier",
            timed(lambda: ledger.stats(day), args.iterations),
            base,
        )


if __name__ == "__main__":
    main()
