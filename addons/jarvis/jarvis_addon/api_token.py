"""Values generated once and kept in the data directory: the API token and the instance id."""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import os
from pathlib import Path
import secrets
from typing import Final
import uuid

TOKEN_FILE: Final = "api_token"  # noqa: S105 - a file name, not a secret
INSTANCE_ID_FILE: Final = "instance_id"


def load_or_create(data_dir: Path, configured: str | None) -> str:
    """Return the token to require on the API.

    A configured token wins and is not written anywhere. Otherwise the token in
    DATA_DIR/api_token is reused, so the integration's stored token (and the Supervisor's
    deduplicated discovery message) stay valid across restarts; if there is none, a new
    one is generated and written with mode 0600. Raises OSError if it cannot be stored.
    """
    if configured:
        return configured
    return _load_or_create(data_dir / TOKEN_FILE, lambda: secrets.token_urlsafe(32))


def load_or_create_instance_id(data_dir: Path) -> str:
    """This add-on installation's stable id: the integration's unique id for its entry.

    It lives with the data, so it survives restarts and updates and changes only with a
    reinstall (a new data directory), which really is a different add-on.
    """
    return _load_or_create(data_dir / INSTANCE_ID_FILE, lambda: uuid.uuid4().hex)


def _load_or_create(path: Path, make: Callable[[], str]) -> str:
    with contextlib.suppress(FileNotFoundError):
        value = path.read_text(encoding="utf-8").strip()
        if value:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)  # tighten a file someone copied in with loose permissions
            return value
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Create with 0600 from the start (no window where a secret is world-readable), then
    # rename so a crash never leaves a half-written file behind.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(value + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return value
