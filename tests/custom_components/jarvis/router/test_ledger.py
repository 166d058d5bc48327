"""The decision ledger on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
import json
from pathlib import Path
import sqlite3
import threading

import pytest

from custom_components.jarvis.router.cascade import Attempt, RouteResult
from custom_components.jarvis.router.ledger import (
    MAX_TEXT_CHARS,
    MIGRATIONS,
    SCHEMA_VERSION,
    DecisionRecord,
    Ledger,
    LedgerError,
    TierLatency,
    is_escalated,
    new_id,
)
from custom_components.jarvis.router.policy import Candidate
from custom_components.jarvis.router.types import (
    Completion,
    Price,
    ProviderKind,
    Tier,
    ToolCall,
    Usage,
)

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def attempt(name: str, outcome: str, cost: float, tier: str = "t2") -> dict[str, object]:
    return {"tier": tier, "name": name, "model": "m", "outcome": outcome, "cost_usd": cost}


def record(minutes: int = 0, **kwargs: object) -> DecisionRecord:
    defaults: dict[str, object] = {
        "created_at": T0 + timedelta(minutes=minutes),
        "conversation_id": "conv-1",
        "agent_id": "agent-a",
        "user_id": "user-1",
        "device_id": "satellite-device",
        "satellite_id": "assist_satellite.workshop",
        "language": "en",
        "text": "Turn on the bench lamp",
        "tier": "t1",
        "provider": "ollama",
        "model": "qwen3:4b",
        "reason": "t1 ollama accepted: confidence 0.82 ≥ 0.60",
        "confidence": 0.82,
        "attempts": [attempt("ollama", "accepted", 0.0, tier="t1")],
        "tool_calls_executed": [
            {"name": "HassTurnOn", "arguments": {"name": "Bench Lamp"}, "result_summary": "ok"}
        ],
        "outcome": "action_done",
        "cost_usd": 0.0,
        "latency_ms": 412.5,
        "tokens_in": 1200,
        "tokens_out": 18,
        "freshness": {"needs_fresh": False, "score": 0.0, "cues": []},
    }
    defaults.update(kwargs)
    return DecisionRecord(**defaults)  # type: ignore[arg-type]


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger(tmp_path / "ledger.db")
    yield opened
    opened.close()


def test_round_trip(ledger: Ledger) -> None:
    original = record()
    ledger.append(original)
    (stored,) = ledger.query()
    assert stored == original
    assert stored.created_at.tzinfo is UTC
    assert stored.attempts == original.attempts
    assert json.loads(json.dumps(stored.to_dict())) == original.to_dict()
    assert DecisionRecord.from_dict(original.to_dict()) == original


def test_record_normalises_time_and_text() -> None:
    local_time = datetime(2026, 11, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    rec = record(created_at=local_time, text="x" * 5_000)
    assert rec.created_at == T0
    assert rec.created_at.tzinfo is UTC
    assert len(rec.text) == MAX_TEXT_CHARS
    with pytest.raises(ValueError, match="timezone-aware"):
        record(created_at=datetime(2026, 11, 1, 8, 0))  # noqa: DTZ001


def test_defaults_give_a_fresh_id_and_time() -> None:
    first, second = DecisionRecord(), DecisionRecord()
    assert first.id != second.id
    assert first.created_at.tzinfo is UTC


def test_ids_are_ulids_that_sort_by_time() -> None:
    early, late = new_id(now=1_700_000_000.0), new_id(now=1_700_000_001.0)
    assert len(early) == 26
    assert early < late
    assert len({new_id() for _ in range(1_000)}) == 1_000


def test_filters_and_count(ledger: Ledger) -> None:
    ledger.append(record(0, id="a", tier="t1", agent_id="agent-a"))
    ledger.append(record(10, id="b", tier="t2", agent_id="agent-a"))
    ledger.append(record(20, id="c", tier="t2", agent_id="agent-b"))
    ledger.append(record(30, id="d", tier="t2f", agent_id="agent-b"))
    assert [r.id for r in ledger.query()] == ["d", "c", "b", "a"]
    assert [r.id for r in ledger.query(tier="t2")] == ["c", "b"]
    assert [r.id for r in ledger.query(agent_id="agent-b")] == ["d", "c"]
    assert [r.id for r in ledger.query(since=T0 + timedelta(minutes=10))] == ["d", "c", "b"]
    assert [
        r.id for r in ledger.query(since=T0 + timedelta(minutes=5), tier="t2", agent_id="agent-a")
    ] == ["b"]
    assert ledger.count() == 4
    assert ledger.count(tier="t2") == 2
    assert ledger.count(agent_id="agent-b", since=T0 + timedelta(minutes=25)) == 1
    assert ledger.count(tier="t0") == 0


def test_pagination_is_newest_first_and_complete(ledger: Ledger) -> None:
    for minute in range(23):
        ledger.append(record(minute, id=f"r{minute:02d}"))
    pages = [ledger.query(limit=10, offset=offset) for offset in (0, 10, 20)]
    assert [len(p) for p in pages] == [10, 10, 3]
    ids = [r.id for page in pages for r in page]
    assert ids == [f"r{m:02d}" for m in range(22, -1, -1)]
    assert ledger.query(limit=10, offset=30) == []
    with pytest.raises(ValueError):
        ledger.query(limit=-1)


def test_prune_removes_only_older_records(ledger: Ledger) -> None:
    for minute in range(5):
        ledger.append(record(minute, id=f"r{minute}"))
    assert ledger.prune(T0 + timedelta(minutes=3)) == 3
    assert [r.id for r in ledger.query()] == ["r4", "r3"]
    assert ledger.prune(T0) == 0


def test_spend_counts_every_attempt_and_tool_loop_rounds(ledger: Ledger) -> None:
    # Escalated: a rejected OpenAI answer was paid for, then Anthropic answered (+ a tool round).
    ledger.append(
        record(
            0,
            id="escalated",
            tier="t2",
            provider="anthropic",
            attempts=[
                attempt("ollama", "invalid_tool_call", 0.0, tier="t1"),
                attempt("openai", "low_confidence", 0.002),
                attempt("anthropic", "accepted", 0.010),
            ],
            cost_usd=0.015,  # 0.003 more than the attempts: the follow-up tool round
        )
    )
    ledger.append(
        record(
            5,
            id="fresh",
            tier="t2f",
            provider="perplexity",
            attempts=[attempt("perplexity", "accepted", 0.006)],
            cost_usd=0.006,
        )
    )
    ledger.append(
        record(
            10,
            id="other",
            agent_id="agent-b",
            provider="openai",
            attempts=[attempt("openai", "accepted", 0.5)],
            cost_usd=0.5,
        )
    )
    ledger.append(record(15, id="local"))  # free
    spend = ledger.spend(T0, agent_id="agent-a")
    assert spend == pytest.approx({"openai": 0.002, "anthropic": 0.013, "perplexity": 0.006})
    assert sum(ledger.spend(T0).values()) == pytest.approx(0.015 + 0.006 + 0.5)
    assert ledger.spend(T0 + timedelta(minutes=1)) == pytest.approx(
        {"perplexity": 0.006, "openai": 0.5}
    )
    assert ledger.spend(T0 + timedelta(days=1)) == {}


def test_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger(path) as first:
        first.append(record(id="kept"))
    with Ledger(path) as second:
        assert [r.id for r in second.query()] == ["kept"]
        second.append(record(1, id="more"))
        assert second.count() == 2
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        assert {
            "decisions_created_at",
            "decisions_agent_created_at",
            "decisions_tier_created_at",
        } <= indexes
    finally:
        conn.close()


def test_a_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    with pytest.raises(LedgerError, match=r"ledger\.db is not a usable SQLite database"):
        Ledger(path)


def test_missing_folder_and_directory_paths_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="does not exist"):
        Ledger(tmp_path / "nowhere" / "ledger.db")
    (tmp_path / "adir").mkdir()
    with pytest.raises(LedgerError, match="not a file"):
        Ledger(tmp_path / "adir")


def test_a_missing_file_starts_a_new_ledger(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with Ledger(path) as ledger:
        assert ledger.count() == 0
    assert path.is_file()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match=f"schema version {SCHEMA_VERSION + 1}"):
        Ledger(path)


def test_duplicate_ids_and_closed_ledgers_are_errors(ledger: Ledger) -> None:
    ledger.append(record(id="same"))
    with pytest.raises(LedgerError, match="already in the ledger"):
        ledger.append(record(1, id="same"))
    ledger.close()
    ledger.close()  # idempotent
    with pytest.raises(LedgerError, match="closed"):
        ledger.count()


def test_concurrent_appends_from_executor_threads(ledger: Ledger) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for index in range(100):
                ledger.append(record(index, id=f"w{worker}-{index}"))
                ledger.count(agent_id="agent-a")
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert ledger.count() == 400


def test_ten_thousand_records(ledger: Ledger) -> None:
    for index in range(10_000):
        ledger.append(
            record(
                index,
                id=f"r{index:05d}",
                tier=("t1", "t2", "t2f")[index % 3],
                agent_id=("agent-a", "agent-b")[index % 2],
                attempts=[attempt("openai", "accepted", 0.001)],
                cost_usd=0.001,
            )
        )
    assert ledger.count() == 10_000
    assert ledger.count(tier="t2", agent_id="agent-a") == len(
        [i for i in range(10_000) if i % 3 == 1 and i % 2 == 0]
    )
    page = ledger.query(tier="t1", limit=50, offset=100)
    assert len(page) == 50
    assert page[0].id == f"r{9999 - 300:05d}"
    assert ledger.spend(T0) == pytest.approx({"openai": 10.0})
    assert ledger.prune(T0 + timedelta(minutes=5_000)) == 5_000


def test_from_route_builds_the_record() -> None:
    class NoProvider:
        kind = ProviderKind.OPENAI
        model = "gpt-x"

    candidate = Candidate(Tier.CLOUD, "openai", NoProvider(), Price(), local=False)  # type: ignore[arg-type]
    accepted = Completion(
        text="",
        tool_calls=(ToolCall("1", "HassTurnOn", {"name": "Bench Lamp"}),),
        model="gpt-x-2026",
    )
    result = RouteResult(
        accepted=accepted,
        candidate=candidate,
        attempts=(
            Attempt(Tier.LOCAL_MODEL, "ollama", "qwen", "invalid_tool_call", usage=Usage(900, 12)),
            Attempt(
                Tier.CLOUD,
                "openai",
                "gpt-x-2026",
                "accepted",
                usage=Usage(1_000, 20),
                cost_usd=0.0012,
            ),
        ),
        reason="t1 ollama rejected (...); t2 openai accepted: confidence 1.00 ≥ 0.60",
        escalations=1,
        budget_blocked=False,
        total_cost_usd=0.0012,
        total_latency_ms=812.0,
        accepted_index=1,
    )
    rec = DecisionRecord.from_route(
        result,
        text="Turn on the bench lamp",
        tool_calls_executed=[
            {"name": "HassTurnOn", "arguments": {"name": "Bench Lamp"}, "result_summary": "done"}
        ],
        agent_id="agent-a",
        conversation_id="conv-9",
    )
    assert (rec.tier, rec.provider, rec.model, rec.outcome) == (
        "t2",
        "openai",
        "gpt-x-2026",
        "action_done",
    )
    assert (rec.tokens_in, rec.tokens_out) == (1_900, 32)
    assert rec.cost_usd == 0.0012
    assert rec.confidence is None  # the attempts carry no report here
    assert [a["outcome"] for a in rec.attempts] == ["invalid_tool_call", "accepted"]
    assert rec.agent_id == "agent-a"
    blocked = RouteResult(None, None, (), "t2 openai skipped (budget: ...)", 0, True, 0.0, 1.0)
    assert DecisionRecord.from_route(blocked, text="hi").outcome == "budget_blocked"
    failed = RouteResult(None, None, (), "no acceptable answer", 0, False, 0.0, 1.0)
    assert DecisionRecord.from_route(failed, text="hi").outcome == "error"


def _v1_ledger(path: Path, records: list[DecisionRecord]) -> None:
    """A ledger file as version 1 wrote it (no costs table, no latency or escalation columns)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    for rec in records:
        attempts_cost = sum(float(a.get("cost_usd") or 0) for a in rec.attempts)
        conn.execute(
            "INSERT INTO decisions (id, created_at, agent_id, tier, provider, outcome, cost_usd,"
            " extra_cost_usd, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rec.id,
                int(rec.created_at.timestamp() * 1_000_000),
                rec.agent_id,
                rec.tier,
                rec.provider,
                rec.outcome,
                rec.cost_usd,
                max(0.0, rec.cost_usd - attempts_cost),
                json.dumps(rec.to_dict()),
            ),
        )
    conn.close()


def _paid(minutes: int, agent: str = "agent-a", **kwargs: object) -> DecisionRecord:
    defaults: dict[str, object] = {
        "tier": "t2",
        "provider": "gpt",
        "agent_id": agent,
        "attempts": [
            attempt("llama", "low_confidence", 0.0, tier="t1"),
            attempt("gpt", "accepted", 0.002),
        ],
        "cost_usd": 0.003,  # 0.001 of tool-loop rounds on top of the attempts
        "latency_ms": 900.0 + minutes,
    }
    return record(minutes, **{**defaults, **kwargs})


def test_version_1_ledgers_are_migrated_with_their_costs(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    old = [_paid(1, id="paid"), record(2, id="local", latency_ms=120.0)]
    _v1_ledger(path, old)
    with Ledger(path) as ledger:
        assert ledger.spend(T0) == {"gpt": pytest.approx(0.003)}
        assert ledger.spend_by_agent(T0) == {"agent-a": pytest.approx(0.003)}
        stats = ledger.stats(T0)
        assert (stats.decisions, stats.answered, stats.local, stats.escalations) == (2, 2, 1, 1)
        assert stats.latency["t1"] == TierLatency(1, 120.0, 120.0)
        assert stats.latency["t2"] == TierLatency(1, 901.0, 901.0)
        # New records go on counting next to the migrated ones.
        ledger.append(_paid(3, id="new"))
        assert ledger.spend(T0) == {"gpt": pytest.approx(0.006)}


def test_stats_percentiles_local_share_and_escalations(ledger: Ledger) -> None:
    for minute, latency in enumerate((50.0, 10.0, 40.0, 30.0, 20.0)):
        ledger.append(record(minute, tier="t1", latency_ms=latency))
    ledger.append(record(10, tier="t0", provider="homeassistant", latency_ms=5.0, attempts=[]))
    ledger.append(_paid(11))
    ledger.append(record(12, tier="", outcome="error", attempts=[]))
    ledger.append(record(-60, tier="t1", latency_ms=9999.0))  # before `since`
    stats = ledger.stats(T0)
    assert stats.decisions == 8
    assert stats.answered == 7
    assert stats.local == 6
    assert stats.local_share == pytest.approx(85.71)
    assert stats.escalations == 1
    assert stats.latency["t1"] == TierLatency(5, 30.0, 50.0)
    assert stats.latency["t0"] == TierLatency(1, 5.0, 5.0)
    assert stats.latency["t2f"] == TierLatency(0, None, None)
    assert ledger.stats(T0 + timedelta(days=1)).local_share is None


def test_spend_by_agent_and_prune_of_costs(ledger: Ledger) -> None:
    ledger.append(_paid(1, agent="agent-a"))
    ledger.append(_paid(2, agent="agent-b"))
    ledger.append(_paid(-120, agent="agent-b"))
    assert ledger.spend_by_agent(T0) == {
        "agent-a": pytest.approx(0.003),
        "agent-b": pytest.approx(0.003),
    }
    assert ledger.spend(T0, agent_id="agent-b") == {"gpt": pytest.approx(0.003)}
    assert ledger.prune(T0) == 1
    assert ledger.spend_by_agent(T0 - timedelta(days=1)) == {
        "agent-a": pytest.approx(0.003),
        "agent-b": pytest.approx(0.003),
    }


def test_a_failed_append_leaves_no_costs_behind(ledger: Ledger) -> None:
    ledger.append(_paid(1, id="dup"))
    with pytest.raises(LedgerError, match="already in the ledger"):
        ledger.append(_paid(2, id="dup"))
    assert ledger.spend(T0) == {"gpt": pytest.approx(0.003)}


def test_escalated_means_more_than_one_model_was_asked() -> None:
    assert is_escalated(_paid(1))
    assert not is_escalated(record(1))
    skipped = [attempt("llama", "accepted", 0.0, tier="t1"), attempt("gpt", "skipped_budget", 0.0)]
    assert not is_escalated(record(1, attempts=skipped))
