"""The add-on image installs jarvis_addon non-editable (Dockerfile: `pip install /opt/jarvis`).

The tests run from an editable install, which sees every file of the source tree, so a package or
data file the build leaves out would only fail in the image. Build the real wheel and compare.
"""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.addons.layout import ADDON_DIR

pytestmark = pytest.mark.timeout(300)


def test_the_wheel_holds_every_module_and_data_file(tmp_path: Path) -> None:
    # Built from a copy, as the Dockerfile copies: a build/ left in the source tree by an earlier
    # build would lend its stale files to the wheel.
    tree = tmp_path / "src"
    tree.mkdir()
    shutil.copy(ADDON_DIR / "pyproject.toml", tree)
    shutil.copytree(
        ADDON_DIR / "jarvis_addon",
        tree / "jarvis_addon",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), "."],
        cwd=tree,
        check=True,
        timeout=280,
    )
    (wheel,) = out.glob("jarvis_addon-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packed = {name for name in archive.namelist() if name.startswith("jarvis_addon/")}
    source = ADDON_DIR / "jarvis_addon"
    expected = {
        path.relative_to(ADDON_DIR).as_posix()
        for path in source.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "jarvis_addon/cv/model.json" in expected  # the detector's trees are data, not code
    assert expected - packed == set()
