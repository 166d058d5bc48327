"""Tamper-evident audit log: append-only JSON lines, each record hashing the one before. Pure.

A record is `{seq, ts, kind, data, prev, hash}` where `hash = sha256(canonical JSON of the rest)`
and `prev` is the previous record's hash (64 zeros for the first). Editing, deleting or
reordering any record breaks the chain at that record, which `verify` reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


class AuditError(Exception):
    """The log cannot be read or written."""


def _digest(record: Mapping[str, Any]) -> str:
    body = {k: record[k] for k in ("seq", "ts", "kind", "data", "prev")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of checking the whole chain."""

    ok: bool
    records: int
    first_broken: int | None = None  # seq (line number from 0) of the first bad record
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Service/HTTP form."""
        return {
            "ok": self.ok,
            "records": self.records,
            "first_broken": self.first_broken,
            "problem": self.problem,
        }


class AuditLog:
    """The chain on disk; appends are flushed and fsynced before they return."""

    def __init__(self, path: Path) -> None:
        """Open (or start) the log at path; `load` reads what is there."""
        self.path = path
        self.last_hash = GENESIS
        self.count = 0

    def load(self) -> Verification:
        """Read the tail of the chain to continue it; report whether it verifies."""
        result = self.verify()
        records = self.read()
        if records:
            self.last_hash = str(records[-1].get("hash", GENESIS))
            self.count = len(records)
        return result

    def append(self, kind: str, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """Add one record to the end of the chain and return it."""
        record: dict[str, Any] = {
            "seq": self.count,
            "ts": now.isoformat(),
            "kind": kind,
            "data": json.loads(json.dumps(dict(data), default=str)),
            "prev": self.last_hash,
        }
        record["hash"] = _digest(record)
        line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line)
                file.flush()
                os.fsync(file.fileno())
        except OSError as err:
            raise AuditError(f"cannot write the audit log {self.path}: {err}") from err
        self.last_hash = record["hash"]
        self.count += 1
        return record

    def read(self) -> list[dict[str, Any]]:
        """Every record, oldest first (unparsable lines come back as `{"raw": line}`)."""
        if not self.path.exists():
            return []
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise AuditError(f"cannot read the audit log {self.path}: {err}") from err
        records: list[dict[str, Any]] = []
        for line in lines:
            try:
                value = json.loads(line)
            except ValueError:
                value = None
            records.append(value if isinstance(value, dict) else {"raw": line})
        return records

    def verify(self) -> Verification:
        """Recompute every hash and link; the first record that does not fit is reported."""
        records = self.read()
        prev = GENESIS
        for index, record in enumerate(records):
            if "raw" in record or not {"seq", "ts", "kind", "data", "prev", "hash"} <= set(record):
                return Verification(False, len(records), index, "record is not valid JSON")
            if record["seq"] != index:
                return Verification(False, len(records), index, "sequence number out of order")
            if record["prev"] != prev:
                return Verification(False, len(records), index, "does not follow the previous")
            if _digest(record) != record["hash"]:
                return Verification(False, len(records), index, "content does not match its hash")
            prev = record["hash"]
        return Verification(True, len(records))
