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


def _peer_pick(tmp_path: Path, pythons: dict[str, tuple[int, int]]) -> tuple[int, str, str]:
    """Run pick_peer_python with fake interpreters that pass its check only for 3.11/3.12."""
    for rel, (major, minor) in pythons.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        ok = (major, minor) in ((3, 12), (3, 11))
        path.write_text(f"#!/bin/sh\nexit {0 if ok else 1}\n")
        path.chmod(0o755)
    (tmp_path / "bin").mkdir(exist_ok=True)
    script = f'source {ROOT}/scripts/lib/common.sh; pick_peer_python; echo "$PEER_PYTHON"'
    proc = subprocess.run(
        ["/bin/bash", "-c", script],
        env={"PATH": str(tmp_path / "bin"), "PYENV_ROOT": str(tmp_path / "pyenv")},
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, proc.stdout.strip(), proc.stderr


def test_printer_peers_get_312_or_311(tmp_path: Path) -> None:
    rc, python, _err = _peer_pick(
        tmp_path, {"bin/python3.12": (3, 13), "pyenv/versions/3.11.7/bin/python3": (3, 11)}
    )
    assert rc == 0
    assert python == str(tmp_path / "pyenv" / "versions" / "3.11.7" / "bin" / "python3")


def test_no_peer_python_is_an_error(tmp_path: Path) -> None:
    rc, _python, err = _peer_pick(tmp_path, {"pyenv/versions/3.13.0/bin/python3": (3, 13)})
    assert rc != 0 and "no Python 3.12 or 3.11" in err
