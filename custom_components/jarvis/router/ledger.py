"""The decision ledger: every routing decision, persisted in SQLite (stdlib sqlite3).

One table: indexed columns for the filters (created_at, agent_id, tier) and the money
(provider, cost), plus a JSON column with the whole record. A schema_version table lets later
versions migrate. Since version 2 a `costs` table holds one row per paid amount (an attempt's
cost, or a turn's tool-loop rounds) with its time, agent and provider, indexed by time, so spend
and budget queries never parse JSON; `latency_ms` and `escalated` columns serve the metrics
(percentiles per tier, escalation counts). Methods are synchronous; the HA glue calls them in an executor thread, so the
connection is shared across threads (check_same_thread=False) behind a lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
import json
import math
from pathlib import Path
import secrets
import sqlite3
import threading
import time
from types import TracebackType
from typing import Any, Self

from .cascade import RouteResult

MAX_TEXT_CHARS = 2000
SCHEMA_VERSION = 2
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# MIGRATIONS[n] takes the schema from version n to n + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE decisions (
            id TEXT PRIMARY KEY,
            created_at INTEGER NOT NULL,          -- microseconds since the epoch, UTC
            agent_id TEXT,
            tier TEXT NOT NULL DEFAULT '',
            provider TEXT NOT NULL DEFAULT '',
            outcome TEXT NOT NULL DEFAULT '',
            cost_usd REAL NOT NULL DEFAULT 0,     -- the whole turn
            extra_cost_usd REAL NOT NULL DEFAULT 0, -- cost_usd not in any attempt (tool-loop rounds)
            data TEXT NOT NULL                    -- the record as JSON
        )
        """,
        "CREATE INDEX decisions_created_at ON decisions (created_at)",
        "CREATE INDEX decisions_agent_created_at ON decisions (agent_id, created_at)",
        "CREATE INDEX decisions_tier_created_at ON decisions (tier, created_at)",
    ),
    (
        """
        CREATE TABLE costs (
            decision_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            agent_id TEXT,
            provider TEXT NOT NULL DEFAULT '',
            cost_usd REAL NOT NULL
        )
        """,
        "CREATE INDEX costs_created_at ON costs (created_at)",
        "CREATE INDEX costs_agent_created_at ON costs (agent_id, created_at)",
        "CREATE INDEX costs_decision ON costs (decision_id)",
        "ALTER TABLE decisions ADD COLUMN latency_ms REAL NOT NULL DEFAULT 0",
        "ALTER TABLE decisions ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0",
        "UPDATE decisions SET latency_ms = COALESCE(json_extract(data, '$.latency_ms'), 0)",
        # Escalated: more than one model was asked (CALLED_OUTCOMES below).
        """
        UPDATE decisions SET escalated = (
            SELECT COUNT(*) FROM json_each(decisions.data, '$.attempts') AS a
            WHERE json_extract(a.value, '$.tier') != 't0'
              AND json_extract(a.value, '$.outcome')
                  IN ('accepted', 'low_confidence', 'invalid_tool_call', 'error')
        ) >= 2
        """,
        """
        INSERT INTO costs (decision_id, created_at, agent_id, provider, cost_usd)
        SELECT d.id, d.created_at, d.agent_id, COALESCE(json_extract(a.value, '$.name'), ''),
               json_extract(a.value, '$.cost_usd')
        FROM decisions AS d, json_each(d.data, '$.attempts') AS a
        WHERE COALESCE(json_extract(a.value, '$.cost_usd'), 0) != 0
        """,
        """
        INSERT INTO costs (decision_id, created_at, agent_id, provider, cost_usd)
        SELECT id, created_at, agent_id, provider, extra_cost_usd FROM decisions
        WHERE extra_cost_usd != 0
        """,
    ),
)
# Attempt outcomes of a model that was actually asked (the rest were skipped before any call).
CALLED_OUTCOMES: tuple[str, ...] = ("accepted", "low_confidence", "invalid_tool_call", "error")
LOCAL_TIERS: tuple[str, ...] = ("t0", "t1")
METRIC_TIERS: tuple[str, ...] = ("t0", "t1", "t2", "t2f")


class LedgerError(Exception):
    """The ledger cannot be opened, read or written; the message says which file and why."""


def new_id(now: float | None = None) -> str:
    """A ULID: 48-bit millisecond timestamp + 80 random bits, Crockford base32 (sorts by time)."""
    millis = int((time.time() if now is None else now) * 1000)
    value = (millis << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"datetime must be timezone-aware: {moment!r}")
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionRecord:
    """One request and how it was routed. created_at must be timezone-aware (stored as UTC)."""

    id: str = field(default_factory=new_id)
    created_at: datetime = field(default_factory=_utcnow)
    conversation_id: str | None = None
    agent_id: str | None = None
    user_id: str | None = None
    device_id: str | None = None
    satellite_id: str | None = None
    language: str | None = None
    text: str = ""  # the request, cut to MAX_TEXT_CHARS
    tier: str = ""  # the final tier ("" when nothing answered)
    provider: str = ""  # the final candidate's name
    model: str = ""
    reason: str = ""
    confidence: float | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)  # Attempt.to_dict()
    tool_calls_executed: list[dict[str, Any]] = field(
        default_factory=list
    )  # {name, arguments, result_summary}
    outcome: str = "answered"  # answered, action_done, error, budget_blocked, ...
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    freshness: dict[str, Any] | None = None  # {needs_fresh, score, cues}

    def __post_init__(self) -> None:
        """Normalise: UTC time, bounded text, own copies of the lists."""
        if self.created_at.tzinfo is None:
            raise ValueError(f"created_at must be timezone-aware: {self.created_at!r}")
        object.__setattr__(self, "created_at", self.created_at.astimezone(UTC))
        if len(self.text) > MAX_TEXT_CHARS:
            object.__setattr__(self, "text", self.text[:MAX_TEXT_CHARS])
        object.__setattr__(self, "attempts", [dict(a) for a in self.attempts])
        object.__setattr__(self, "tool_calls_executed", [dict(c) for c in self.tool_calls_executed])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (created_at as ISO 8601 UTC)."""
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "conversation_id": self.conversation_id,
            "agent_id": self.agent_id,
            "user_id": self.user_id,
            "device_id": self.device_id,
            "satellite_id": self.satellite_id,
            "language": self.language,
            "text": self.text,
            "tier": self.tier,
            "provider": self.provider,
            "model": self.model,
            "reason": self.reason,
            "confidence": self.confidence,
            "attempts": [dict(a) for a in self.attempts],
            "tool_calls_executed": [dict(c) for c in self.tool_calls_executed],
            "outcome": self.outcome,
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "freshness": None if self.freshness is None else dict(self.freshness),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Inverse of to_dict()."""
        return cls(
            id=str(data["id"]),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            conversation_id=data.get("conversation_id"),
            agent_id=data.get("agent_id"),
            user_id=data.get("user_id"),
            device_id=data.get("device_id"),
            satellite_id=data.get("satellite_id"),
            language=data.get("language"),
            text=str(data.get("text") or ""),
            tier=str(data.get("tier") or ""),
            provider=str(data.get("provider") or ""),
            model=str(data.get("model") or ""),
            reason=str(data.get("reason") or ""),
            confidence=data.get("confidence"),
            attempts=list(data.get("attempts") or []),
            tool_calls_executed=list(data.get("tool_calls_executed") or []),
            outcome=str(data.get("outcome") or ""),
            cost_usd=float(data.get("cost_usd") or 0.0),
            latency_ms=float(data.get("latency_ms") or 0.0),
            tokens_in=int(data.get("tokens_in") or 0),
            tokens_out=int(data.get("tokens_out") or 0),
            freshness=data.get("freshness"),
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | sqlite3.Row) -> Self:
        """A record from a `decisions` row (its JSON column)."""
        return cls.from_dict(json.loads(row["data"]))

    @classmethod
    def from_route(
        cls,
        result: RouteResult,
        *,
        text: str,
        tool_calls_executed: Iterable[Mapping[str, Any]] = (),
        outcome: str | None = None,
        freshness: Mapping[str, Any] | None = None,
        **context: Any,
    ) -> Self:
        """A record for one routed request; context: conversation_id, agent_id, user_id, ...

        outcome defaults to answered / action_done (tools ran) / budget_blocked / error.
        """
        executed = [dict(c) for c in tool_calls_executed]
        if outcome is None:
            if result.accepted is not None:
                outcome = "action_done" if executed else "answered"
            else:
                outcome = "budget_blocked" if result.budget_blocked else "error"
        usages = [a.usage for a in result.attempts if a.usage is not None]
        candidate = result.candidate
        confidence = result.confidence
        return cls(
            text=text,
            tier="" if candidate is None else candidate.tier.value,
            provider="" if candidate is None else candidate.name,
            model="" if result.accepted is None else result.accepted.model,
            reason=result.reason,
            confidence=None if confidence is None else confidence.score,
            attempts=[a.to_dict() for a in result.attempts],
            tool_calls_executed=executed,
            outcome=outcome,
            cost_usd=result.total_cost_usd,
            latency_ms=round(result.total_latency_ms, 3),
            tokens_in=sum(u.input_tokens for u in usages),
            tokens_out=sum(u.output_tokens for u in usages),
            freshness=None if freshness is None else dict(freshness),
            **context,
        )


def _attempt_costs(record: DecisionRecord) -> list[tuple[str, float]]:
    """(candidate name, cost) of every attempt that cost something."""
    costs: list[tuple[str, float]] = []
    for attempt in record.attempts:
        cost = attempt.get("cost_usd")
        if isinstance(cost, int | float) and not isinstance(cost, bool) and cost:
            costs.append((str(attempt.get("name") or ""), float(cost)))
    return costs


def is_escalated(record: DecisionRecord) -> bool:
    """More than one model was asked to answer (t0 is not a model)."""
    called = [
        a for a in record.attempts if a.get("tier") != "t0" and a.get("outcome") in CALLED_OUTCOMES
    ]
    return len(called) >= 2


@dataclass(frozen=True, slots=True)
class TierLatency:
    """Nearest-rank percentiles of the decisions a tier answered (ms)."""

    count: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True, slots=True)
class LedgerStats:
    """What the decisions since a moment add up to (for sensors and metrics)."""

    decisions: int  # every request, answered or not
    answered: int  # decisions that some tier answered
    local: int  # answered by t0 or t1
    escalations: int
    latency: dict[str, TierLatency]  # by final tier (METRIC_TIERS)

    @property
    def local_share(self) -> float | None:
        """Percent of answered requests that stayed local; None before the first one."""
        return None if not self.answered else round(100.0 * self.local / self.answered, 2)


class Ledger:
    """The decision ledger in one SQLite file (created when missing)."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the ledger; raise LedgerError when the file cannot serve as one."""
        self.path = Path(path)
        self._lock = threading.Lock()
        if not self.path.parent.is_dir():
            raise LedgerError(
                f"cannot open the decision ledger {self.path}: folder {self.path.parent} does not exist"
            )
        if self.path.exists() and not self.path.is_file():
            raise LedgerError(f"cannot open the decision ledger {self.path}: not a file")
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=10.0
            )
        except sqlite3.Error as err:
            raise LedgerError(f"cannot open the decision ledger {self.path}: {err}") from err
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate(self._conn)
        except sqlite3.DatabaseError as err:
            self._conn.close()
            self._conn = None
            raise LedgerError(
                f"the decision ledger {self.path} is not a usable SQLite database ({err}); "
                "move it aside and a new ledger is started"
            ) from err
        except LedgerError:
            self._conn.close()
            self._conn = None
            raise

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        version = 0 if row[0] is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"the decision ledger {self.path} has schema version {version}; this version of "
                f"Jarvis reads up to {SCHEMA_VERSION} (downgrade not supported)"
            )
        while version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                version += 1
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LedgerError(f"the decision ledger {self.path} is closed")
        return self._conn

    def _run(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._connection().execute(sql, tuple(params))
        except sqlite3.Error as err:
            raise LedgerError(f"decision ledger {self.path}: {err}") from err

    def append(self, record: DecisionRecord) -> None:
        """Store one record (its id must be new)."""
        data = json.dumps(record.to_dict(), default=str, ensure_ascii=False)
        costs = _attempt_costs(record)
        extra = max(0.0, record.cost_usd - sum(cost for _, cost in costs))
        if extra:
            costs.append((record.provider, extra))
        created = _micros(record.created_at)
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise LedgerError(f"decision ledger {self.path}: {err}") from err
            try:
                conn.execute(
                    "INSERT INTO decisions (id, created_at, agent_id, tier, provider, outcome,"
                    " cost_usd, extra_cost_usd, latency_ms, escalated, data)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.id,
                        created,
                        record.agent_id,
                        record.tier,
                        record.provider,
                        record.outcome,
                        record.cost_usd,
                        extra,
                        record.latency_ms,
                        int(is_escalated(record)),
                        data,
                    ),
                )
                conn.executemany(
                    "INSERT INTO costs (decision_id, created_at, agent_id, provider, cost_usd)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(record.id, created, record.agent_id, name, cost) for name, cost in costs],
                )
            except sqlite3.IntegrityError as err:
                conn.execute("ROLLBACK")
                raise LedgerError(f"decision {record.id} is already in the ledger") from err
            except sqlite3.Error as err:
                conn.execute("ROLLBACK")
                raise LedgerError(f"decision ledger {self.path}: {err}") from err
            conn.execute("COMMIT")

    @staticmethod
    def _where(
        since: datetime | None, tier: str | None, agent_id: str | None
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(_micros(since))
        if tier is not None:
            clauses.append("tier = ?")
            params.append(tier)
        if agent_id is not None:
            clauses.append("agent_id = ?")
            params.append(agent_id)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def query(
        self,
        *,
        since: datetime | None = None,
        tier: str | None = None,
        agent_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[DecisionRecord]:
        """Records matching every given filter, newest first."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        where, params = self._where(since, tier, agent_id)
        with self._lock:
            rows = self._run(
                f"SELECT data FROM decisions{where} ORDER BY created_at DESC, id DESC"  # noqa: S608 (fixed clauses)
                " LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        return [DecisionRecord.from_row(row) for row in rows]

    def count(
        self,
        *,
        since: datetime | None = None,
        tier: str | None = None,
        agent_id: str | None = None,
    ) -> int:
        """How many records match (for pagination)."""
        where, params = self._where(since, tier, agent_id)
        with self._lock:
            row = self._run(f"SELECT COUNT(*) FROM decisions{where}", params).fetchone()  # noqa: S608
        return int(row[0])

    def prune(self, older_than: datetime) -> int:
        """Delete records created before older_than; return how many went."""
        with self._lock:
            cutoff = _micros(older_than)
            self._run("DELETE FROM costs WHERE created_at < ?", (cutoff,))
            cursor = self._run("DELETE FROM decisions WHERE created_at < ?", (cutoff,))
        return cursor.rowcount

    def spend(self, since: datetime, *, agent_id: str | None = None) -> dict[str, float]:
        """USD spent since then, per provider name (non-zero amounts only).

        Every attempt's cost counts under its candidate's name (a rejected cloud answer was paid
        for too); cost of the turn outside its attempts (tool-loop rounds) counts under the
        record's provider. Reads the indexed `costs` table only.
        """
        return self._cost_totals("provider", since, agent_id)

    def spend_by_agent(self, since: datetime) -> dict[str, float]:
        """USD spent since then, per agent (subentry id; "" for requests without one)."""
        return self._cost_totals("agent_id", since, None)

    def _cost_totals(self, column: str, since: datetime, agent_id: str | None) -> dict[str, float]:
        sql = f"SELECT {column} AS name, SUM(cost_usd) AS cost FROM costs WHERE created_at >= ?"  # noqa: S608 (fixed column)
        params: list[Any] = [_micros(since)]
        if agent_id is not None:
            sql += " AND agent_id = ?"
            params.append(agent_id)
        with self._lock:
            rows = self._run(sql + f" GROUP BY {column}", params).fetchall()
        return {str(row["name"] or ""): float(row["cost"]) for row in rows if row["cost"]}

    def stats(self, since: datetime) -> LedgerStats:
        """Counts, local share, escalations and latency percentiles per tier since then."""
        start = _micros(since)
        placeholders = ", ".join("?" for _ in LOCAL_TIERS)
        with self._lock:
            row = self._run(
                "SELECT COUNT(*) AS decisions,"  # noqa: S608 (fixed placeholders)
                " SUM(tier != '') AS answered,"
                f" SUM(tier IN ({placeholders})) AS local,"
                " SUM(escalated) AS escalations"
                " FROM decisions WHERE created_at >= ?",
                [*LOCAL_TIERS, start],
            ).fetchone()
            latency: dict[str, TierLatency] = {}
            for tier in METRIC_TIERS:
                latency[tier] = self._percentiles(tier, start)
        return LedgerStats(
            decisions=int(row["decisions"] or 0),
            answered=int(row["answered"] or 0),
            local=int(row["local"] or 0),
            escalations=int(row["escalations"] or 0),
            latency=latency,
        )

    def _percentiles(self, tier: str, start: int) -> TierLatency:
        """Nearest-rank p50 / p95 (two indexed lookups each; no full read of the latencies)."""
        where = " FROM decisions WHERE tier = ? AND created_at >= ?"
        count = int(self._run("SELECT COUNT(*)" + where, (tier, start)).fetchone()[0])
        if not count:
            return TierLatency(0, None, None)

        def rank(percent: int) -> float:
            offset = max(0, math.ceil(percent / 100 * count) - 1)
            value = self._run(
                "SELECT latency_ms" + where + " ORDER BY latency_ms LIMIT 1 OFFSET ?",
                (tier, start, offset),
            ).fetchone()[0]
            return float(value)

        return TierLatency(count, rank(50), rank(95))

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        """Use as a context manager."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close on exit."""
        self.close()
