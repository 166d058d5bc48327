"""`benchmarks/cv_bench.py` (its default short run, `--quick`) runs (what CI can afford) and prints every figure it promises."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.timeout(180)
def test_quick_benchmark_prints_all_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cv_bench.py"), "--quick", "--jobs", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=170, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    for needle in ("640x480", "1280x720", "1920x1080", "ours/decode", "recall spaghetti",
                   "recall detachment", "recall blob", "false pauses", "onset to pause",
                   "Goals (issue 6)", "ours/goal", "ours/naive", "handcrafted rule", "handcr."):  # fmt: skip
        assert needle in text, text
    figures = json.loads(out.read_text())
    assert [r["resolution"] for r in figures["speed"]] == ["640x480", "1280x720", "1920x1080"]
    assert all(r["ours_p50"] > 0 and r["decode_p50"] > 0 for r in figures["speed"])
    assert figures["split"] == "heldout" and min(figures["seeds"]) >= 100_000
    assert 0 <= figures["recall_spaghetti"] <= 1 and figures["print_hours"] > 0
    goals = figures["goals"]
    assert set(goals) >= {"ms p95 at 1280x720", "recall spaghetti", "false pauses / 100 h"}
    assert goals["ms p95 at 1280x720"]["goal"] == 33.0
    assert goals["ms p95 at 1280x720"]["met"] == (figures["speed"][1]["ours_p95"] <= 33.0)
