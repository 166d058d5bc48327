"""scripts/lib/common.sh picks the newest usable Python, as the README promises."""

from __future__ import annotations

from pathlib import Path
import subprocess

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _fake_python(path: Path, version: tuple[int, int, int]) -> None:
    """An 'interpreter' that answers the picker's version probe."""
    path.parent.mkdir(parents=True, exist_ok=True)
    major, minor, micro = version
    path.write_text(f"#!/bin/sh\necho {major}{minor:02d}{micro:02d}\n")
    path.chmod(0o755)


def _pick(
    tmp_path: Path, on_path: dict[str, tuple[int, int, int]], pyenv: dict[str, tuple[int, int, int]]
) -> tuple[int, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, version in on_path.items():
        _fake_python(bin_dir / name, version)
    for name, version in pyenv.items():
        _fake_python(tmp_path / "pyenv" / "versions" / name / "bin" / "python3", version)
    script = f'source {ROOT}/scripts/lib/common.sh; pick_python; echo "$PYTHON"; echo "${{PIP_EXTRA[*]}}"'
    proc = subprocess.run(
        ["/bin/bash", "-c", script],
        env={"PATH": str(bin_dir), "PYENV_ROOT": str(tmp_path / "pyenv")},
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, [*proc.stdout.splitlines(), proc.stderr]


def test_prefers_314(tmp_path: Path) -> None:
    rc, (python, extra, err) = _pick(
        tmp_path, {"python3.14": (3, 14, 1), "python3.13": (3, 13, 5)}, {"3.13.0": (3, 13, 0)}
    )
    assert rc == 0
    assert python == str(tmp_path / "bin" / "python3.14")
    assert extra == ""
    assert "WARNING" not in err


def test_debian_313_beats_pyenv_3130(tmp_path: Path) -> None:
    rc, (python, extra, _err) = _pick(tmp_path, {"python3.13": (3, 13, 5)}, {"3.13.0": (3, 13, 0)})
    assert rc == 0
    assert python == str(tmp_path / "bin" / "python3.13")
    assert extra == ""


def test_pyenv_3130_needs_ignore_requires_python_and_warns(tmp_path: Path) -> None:
    rc, (python, extra, err) = _pick(tmp_path, {}, {"3.13.0": (3, 13, 0), "3.12.1": (3, 12, 1)})
    assert rc == 0
    assert python == str(tmp_path / "pyenv" / "versions" / "3.13.0" / "bin" / "python3")
    assert extra == "--ignore-requires-python"
    assert "WARNING" in err and "3.13.2" in err


@pytest.mark.parametrize("pyenv", [{}, {"3.12.1": (3, 12, 1)}])
def test_no_usable_python_is_an_error(
    tmp_path: Path, pyenv: dict[str, tuple[int, int, int]]
) -> None:
    rc, lines = _pick(tmp_path, {"python3.13": (3, 12, 9)}, pyenv)
    assert rc != 0
    assert "no Python >= 3.13 found" in lines[-1]
