"""The pure audit chain: appends, verification, and every way of editing it on disk."""

from __future__ import annotations

from datetime import UTC, datetime
import json
from pathlib import Path

import pytest

from custom_components.jarvis.safety.audit import GENESIS, AuditError, AuditLog

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _log(tmp_path: Path, count: int = 3) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(count):
        log.append("requested", {"request_id": f"r{i}", "n": i}, NOW)
    return log


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines()


def test_chain_links_and_verifies(tmp_path: Path) -> None:
    log = _log(tmp_path)
    records = log.read()
    assert records[0]["prev"] == GENESIS
    assert [r["prev"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
    assert log.verify().to_dict() == {
        "ok": True,
        "records": 3,
        "first_broken": None,
        "problem": None,
    }
    # A reopened log continues the chain.
    again = AuditLog(log.path)
    assert again.load().ok
    again.append("approved", {"request_id": "r2"}, NOW)
    assert again.verify().ok and again.count == 4
    assert AuditLog(tmp_path / "none.jsonl").verify().ok


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda r: r[1].update(data={"request_id": "r1", "n": 99}),
            "content does not match its hash",
        ),
        (lambda r: r[1].update(seq=7), "sequence number out of order"),
        (lambda r: r[1].update(prev="f" * 64), "does not follow the previous"),
    ],
)
def test_edited_record_is_found(tmp_path: Path, edit: object, problem: str) -> None:
    log = _log(tmp_path)
    records = [json.loads(line) for line in _lines(log)]
    edit(records)  # type: ignore[operator]
    log.path.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = log.verify()
    assert (result.ok, result.first_broken, result.problem) == (False, 1, problem)


def test_deleted_and_garbled_records_are_found(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    log.path.write_text(lines[0] + "\n" + lines[2] + "\n")
    assert log.verify().first_broken == 1
    log.path.write_text(lines[0] + "\nnot json\n")
    assert log.verify().problem == "record is not valid JSON"
    log.path.write_text(lines[0] + "\n[1, 2]\n")
    assert log.verify().first_broken == 1


def test_unwritable_log_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    log = AuditLog(blocker / "audit.jsonl")
    with pytest.raises(AuditError, match="cannot write"):
        log.append("x", {}, NOW)
    directory = tmp_path / "dir.jsonl"
    directory.mkdir()
    with pytest.raises(AuditError, match="cannot read"):
        AuditLog(directory).read()
