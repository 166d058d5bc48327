"""Artifact store: files under one root (default /share/jarvis/cad) and their lineage in SQLite.

With S3 configured (`remote`), each file is uploaded to the bucket and its local copy removed; the
row keeps the object key and the file's sha256. When S3 fails the file stays local and the row
says why (`storage_error`): a job never loses its artifacts to the object store.

Every artifact row ties a file to its job, conversation id, HA user, prompt, provider, model and
version, parameters, parent artifact (iterations), a stable content hash (normalised for STEP) and
the validation result. Synchronous sqlite3; async callers use `asyncio.to_thread`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
import hashlib
import json
import logging
from pathlib import Path
import shutil
import sqlite3
import threading
import time
from typing import Any, Final
import uuid

from .geometry import file_hash
from .s3 import S3Storage, S3StorageError

_LOGGER = logging.getLogger(__name__)

DEFAULT_ROOT: Final = Path("/share/jarvis/cad")
DB_NAME: Final = "lineage.sqlite3"
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    conversation_id TEXT,
    ha_user TEXT,
    prompt TEXT NOT NULL,
    request TEXT NOT NULL,
    error TEXT,
    variants TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS artifacts (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    variant INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    conversation_id TEXT,
    ha_user TEXT,
    prompt TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT,
    model_version TEXT,
    params TEXT NOT NULL,
    parent_id TEXT REFERENCES artifacts(id),
    format TEXT NOT NULL,
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    validation TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    storage TEXT NOT NULL DEFAULT 'local',
    object_key TEXT,
    sha256 TEXT,
    storage_error TEXT
);
CREATE INDEX IF NOT EXISTS artifacts_job ON artifacts(job_id);
CREATE INDEX IF NOT EXISTS artifacts_conversation ON artifacts(conversation_id);
"""
# Columns added after the first schema: (name, declaration) added to older databases at open.
_ADDED_COLUMNS: Final = (
    ("storage", "TEXT NOT NULL DEFAULT 'local'"),
    ("object_key", "TEXT"),
    ("sha256", "TEXT"),
    ("storage_error", "TEXT"),
)
CONTENT_TYPES: Final = {
    "step": "model/step",
    "stl": "model/stl",
    "glb": "model/gltf-binary",
    "kcl": "text/plain",
    "obj": "model/obj",
}
S3_RETRY_AFTER: Final = 30.0  # after an S3 failure, files stay local without trying for this long


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class NewArtifact:
    """What a provider produced, before it is stored."""

    source: Path
    fmt: str
    provider: str
    body: str = "model"
    model: str | None = None
    model_version: str | None = None
    params: Mapping[str, Any] | None = None
    parent_id: str | None = None
    validation: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] | None = None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class ArtifactStore:
    """Files plus lineage; one instance per process, safe across threads (one lock)."""

    def __init__(
        self,
        root: Path,
        remote: S3Storage | None = None,
        *,
        s3_retry_after: float = S3_RETRY_AFTER,
    ) -> None:
        """Create the root and the database if needed; with `remote`, files go to that bucket."""
        self.root = root
        self.remote = remote
        self._s3_retry_after = s3_retry_after
        self._s3_failed: tuple[float, S3StorageError] | None = None
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(root / DB_NAME, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        present = {r["name"] for r in self._db.execute("PRAGMA table_info(artifacts)")}
        for name, declaration in _ADDED_COLUMNS:
            if name not in present:
                self._db.execute(f"ALTER TABLE artifacts ADD COLUMN {name} {declaration}")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def job_dir(self, job_id: str) -> Path:
        """Where a job's files live."""
        path = self.root / job_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def create_job(
        self,
        job_id: str,
        prompt: str,
        request: Mapping[str, Any],
        conversation_id: str | None,
        ha_user: str | None,
    ) -> None:
        """Record a new job (status queued)."""
        now = _now()
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (id, created_at, updated_at, status, conversation_id, ha_user, prompt, request)"
                " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
                (job_id, now, now, conversation_id, ha_user, prompt, json.dumps(dict(request))),
            )

    def update_job(
        self,
        job_id: str,
        *,
        status: str,
        progress: float,
        error: Mapping[str, Any] | None = None,
        variants: list[dict[str, Any]] | None = None,
    ) -> None:
        """Status, progress, error and the per-variant outcome."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET updated_at = ?, status = ?, progress = ?, error = ?, variants = COALESCE(?, variants) WHERE id = ?",
                (
                    _now(),
                    status,
                    progress,
                    json.dumps(error) if error else None,
                    json.dumps(variants) if variants is not None else None,
                    job_id,
                ),
            )

    def interrupt_unfinished(self) -> list[str]:
        """Mark jobs a previous process left queued or running as failed; their ids.

        A billed Tripo task id stays in the job's variants (state.tripo_task_id) for a manual resume.
        """
        error = json.dumps(
            {"code": "interrupted", "message": "the add-on restarted before the job finished"}
        )
        with self._tx() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE status IN ('queued', 'running')"
            ).fetchall()
            db.execute(
                "UPDATE jobs SET status = 'failed', progress = 1, error = ?, updated_at = ? WHERE status IN ('queued', 'running')",
                (error, _now()),
            )
        return [r["id"] for r in rows]

    def _upload(
        self, remote: S3Storage, dest: Path, key: str, sha256: str, fmt: str
    ) -> S3StorageError | None:
        """Put the file in the bucket (None) or say why it stays local."""
        failed = self._s3_failed
        if failed is not None and time.monotonic() - failed[0] < self._s3_retry_after:
            ago = time.monotonic() - failed[0]
            return type(failed[1])(f"not tried: S3 failed {ago:.0f} s ago: {failed[1]}")
        try:
            remote.put(
                key,
                str(dest),
                sha256=sha256,
                content_type=CONTENT_TYPES.get(fmt, "application/octet-stream"),
            )
        except S3StorageError as err:
            self._s3_failed = (time.monotonic(), err)
            _LOGGER.warning("CAD: %s stays local: %s", dest.name, err)
            return err
        self._s3_failed = None
        return None

    def add(self, job_id: str, variant: int, new: NewArtifact) -> dict[str, Any]:
        """Move the file into the job's folder, hash it, upload it (S3), record its lineage row."""
        job = self.job(job_id)
        if job is None:
            raise KeyError(job_id)
        if new.parent_id is not None and self.artifact(new.parent_id) is None:
            raise KeyError(new.parent_id)
        artifact_id = uuid.uuid4().hex
        dest = self.job_dir(job_id) / f"{artifact_id}.{new.fmt}"
        if new.source.resolve() != dest.resolve():
            shutil.move(str(new.source), dest)
        size = dest.stat().st_size
        content_hash = file_hash(dest)
        sha256 = _sha256(dest)
        storage, object_key, path, storage_error = "local", None, str(dest), None
        if self.remote is not None:
            key = self.remote.key(job_id, dest.name)
            failure = self._upload(self.remote, dest, key, sha256, new.fmt)
            if failure is None:
                storage, object_key = "s3", key
                path = f"s3://{self.remote.options.bucket}/{key}"
            else:
                storage_error = json.dumps({"code": failure.code, "message": str(failure)})
        row = {
            "id": artifact_id,
            "job_id": job_id,
            "variant": variant,
            "body": new.body,
            "created_at": _now(),
            "conversation_id": job["conversation_id"],
            "ha_user": job["ha_user"],
            "prompt": job["prompt"],
            "provider": new.provider,
            "model": new.model,
            "model_version": new.model_version,
            "params": json.dumps(dict(new.params or {}), sort_keys=True),
            "parent_id": new.parent_id,
            "format": new.fmt,
            "path": path,
            "bytes": size,
            "content_hash": content_hash,
            "validation": json.dumps(dict(new.validation or {})),
            "extra": json.dumps(dict(new.extra or {}), sort_keys=True),
            "storage": storage,
            "object_key": object_key,
            "sha256": sha256,
            "storage_error": storage_error,
        }
        with self._tx() as db:
            db.execute(
                f"INSERT INTO artifacts ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",  # noqa: S608 - fixed column names
                tuple(row.values()),
            )
        if storage == "s3":  # only once the row that points at the object is committed
            dest.unlink()
        return self._decode(row)

    @staticmethod
    def _decode(row: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for key in (
            "params",
            "validation",
            "extra",
            "request",
            "error",
            "variants",
            "storage_error",
        ):
            if key in out and isinstance(out[key], str):
                out[key] = json.loads(out[key])
        return out

    def job(self, job_id: str) -> dict[str, Any] | None:
        """One job, or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._decode(row) if row else None

    def jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Most recent jobs first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [self._decode(r) for r in rows]

    def artifact(self, artifact_id: str) -> dict[str, Any] | None:
        """One artifact, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM artifacts WHERE id = ?", (artifact_id,)
            ).fetchone()
        return self._decode(row) if row else None

    def artifacts(
        self, *, job_id: str | None = None, conversation_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Artifacts of a job or of a conversation, oldest first."""
        column, value = (
            ("job_id", job_id) if job_id is not None else ("conversation_id", conversation_id)
        )
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM artifacts WHERE {column} = ? ORDER BY created_at, variant",  # noqa: S608 - fixed column
                (value,),
            ).fetchall()
        return [self._decode(r) for r in rows]

    def lineage(self, artifact_id: str) -> list[dict[str, Any]]:
        """The artifact and its ancestors (parent, grandparent, ...)."""
        chain: list[dict[str, Any]] = []
        current: str | None = artifact_id
        while current is not None and len(chain) < 100:
            found = self.artifact(current)
            if found is None:
                break
            chain.append(found)
            current = found["parent_id"]
        return chain
