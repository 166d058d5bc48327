"""`benchmarks/cv_bench.py` (its default short run, `--quick`) runs (what CI can afford) and prints every figure it promises."""

from __future__ import annotations

import json
import math
from pathlib import Path
import subprocess
import sys

import pytest

from jarvis_addon.cv.learned import BUNDLED_MODEL
from jarvis_addon.cv.synth import FILAMENT_NAMES, filament_name, make_sequence

from .models import stump_model

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.timeout(180)
def test_quick_benchmark_prints_all_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cv_bench.py"), "--quick", "--jobs", "1", "--json", str(out),
         "--compare-model", str(BUNDLED_MODEL)],
        capture_output=True, text=True, timeout=170, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    for needle in ("640x480", "1280x720", "1920x1080", "ours/decode", "recall spaghetti",
                   "recall detachment", "recall blob", "named blob", "false pauses", "onset to pause",
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
    # The compared model is the one the detector runs: decided on the same features, it must
    # come out the same, figure for figure.
    (compared,) = figures["compared"]
    assert "Compared model" in text
    for key in ("recall_spaghetti", "recall_detachment", "recall_blob", "false_pauses",
                "named_spaghetti", "named_detachment", "named_blob"):  # fmt: skip
        both_nan = math.isnan(compared[key]) and math.isnan(figures[key])  # none caught
        assert compared[key] == figures[key] or both_nan, key
    assert compared["print_hours"] == figures["print_hours"]
    # Recall split by hotend calibration: the bands hold every failure of the kind.
    assert "by hotend calibration blob" in text
    for kind in ("spaghetti", "detachment", "blob"):
        bands = figures[f"recall_by_calibration_{kind}"]
        assert [b["low"] for b in bands] == [0.0, 0.5, 0.75, 1.5]
        assert sum(b["total"] for b in bands) == 1  # one seed of each failure in the quick run
        caught = sum(b["caught"] for b in bands)
        assert caught == (figures[f"recall_{kind}"] == 1.0)
    # Recall split by filament colour: one colour holds each failure, as it is labelled.
    assert "by filament colour blob" in text
    (seed,) = figures["seeds"]
    for kind in ("spaghetti", "detachment", "blob"):
        rows = figures[f"recall_by_filament_{kind}"]
        assert [r["filament"] for r in rows] == list(FILAMENT_NAMES)
        labelled = filament_name(make_sequence(seed, kind))
        assert [r["filament"] for r in rows if r["total"]] == [labelled]
        assert sum(r["caught"] for r in rows) == (figures[f"recall_{kind}"] == 1.0)
        assert compared[f"recall_by_filament_{kind}"] == rows
    # Every false pause is listed by kind and seed (to be replayed), as many as are counted.
    assert len(figures["false_paused"]) == figures["false_pauses"]
    assert compared["false_paused"] == figures["false_paused"]
    # Every failure not caught is listed by kind and seed, as many as recall leaves out.
    assert len(figures["missed"]) == sum(
        figures[f"recall_{k}"] < 1 for k in ("spaghetti", "detachment", "blob")
    )
    assert compared["missed"] == figures["missed"]
    for row in figures["missed"]:
        assert f"missed {row['kind']:<11} 1: {row['seed']} (" in text, text


def test_benchmark_refuses_an_unusable_compared_model(tmp_path: Path) -> None:
    bad = tmp_path / "model.json"
    bad.write_text("{not json")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cv_bench.py"), "--quick", "--speed-frames", "1",
         "--compare-model", str(bad)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--compare-model" in proc.stderr and "unreadable" in proc.stderr
    # A candidate detector: a field that cannot be set, or a model that cannot be loaded (it
    # would fall back to the handcrafted rule and be measured as the candidate).
    for pair, message in (("window=2", "window must be 3-15 frames"),
                          (f"model_path={bad}", "--detector model_path")):  # fmt: skip
        proc = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "cv_bench.py"), "--quick", "--detector", pair],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


@pytest.mark.timeout(120)
def test_calibration_benchmark_compares_the_unit_with_the_rendered_hotend() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cv_calibration.py"), "--seeds", "1", "--jobs", "1",
         "--detector", "size_switch=0.6"],
        capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = {
        line.split("  ")[1].strip(): line
        for line in proc.stdout.splitlines()
        if line.startswith("  ")
    }
    assert set(lines) == {"ours (floored at 0.5 %)", "baseline (floor 50 px)", "ours",
                          "candidate size", "candidate unit"}, proc.stdout  # fmt: skip
    for line in lines.values():
        shares = [float(v.rstrip("%")) for v in line.split()[-2:]]
        assert sum(shares) <= 100.0 and all(0 <= v <= 100 for v in shares), line
    assert "held-out seeds 100000..100000 x 11 kinds = 11 sequences" in proc.stdout
    assert "ours/baseline:" in proc.stdout
    assert "candidate detector {'size_switch': 0.6}" in proc.stdout
    assert "size within 0.5-2x, candidate/ours:" in proc.stdout


def test_calibration_benchmark_refuses_seeds_outside_the_held_out_range() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cv_calibration.py"), "--offset", "995", "--seeds", "10"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "held-out seeds" in proc.stderr


def test_benchmark_runs_the_chosen_kinds_alone_and_refuses_unknown_ones(tmp_path: Path) -> None:
    # The negatives alone: print-hours for the false-pause goal, no recall or delay rows.
    # Compared: a model that pauses on any frame, so both clean prints pause falsely and are
    # listed by kind and seed.
    out = tmp_path / "figures.json"
    eager = stump_model(tmp_path, "edge_density", -1.0)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cv_bench.py"), "--quick", "--jobs", "1",
         "--kinds", "clean,lights", "--json", str(out), "--compare-model", str(eager),
         "--detector", "size_switch=0.6"],
        capture_output=True, text=True, timeout=170, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Accuracy on 2 sequences" in proc.stdout, proc.stdout
    figures = json.loads(out.read_text())
    assert figures["print_hours"] > 0 and "recall_blob" not in figures
    # A candidate detector's fields are printed and recorded with its figures.
    assert figures["detector"] == {"size_switch": 0.6}
    assert "detector {'size_switch': 0.6}" in proc.stdout
    assert set(figures["goals"]) == {"ms p95 at 1280x720", "false pauses / 100 h"}
    (compared,) = figures["compared"]
    listed = [(row["kind"], row["seed"], row["onset"]) for row in compared["false_paused"]]
    assert listed == [("clean", 100_000, None), ("lights", 100_000, None)]
    assert compared["false_pauses"] == 2
    assert all(row["frame"] >= 0 for row in compared["false_paused"])
    assert "false pause: clean seed 100000 at frame" in proc.stdout, proc.stdout
    bad = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cv_bench.py"), "--quick", "--kinds", "fire"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "--kinds 'fire'" in bad.stderr and "clean" in bad.stderr


@pytest.mark.timeout(120)
def test_visibility_benchmark_reads_recall_against_what_the_failure_changes(
    tmp_path: Path,
) -> None:
    out = tmp_path / "vis.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cv_visibility.py"), "--seeds", "1", "--jobs", "1",
         "--at", "5,20", "--json", str(out)],
        capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "held-out seeds 100000..100000 x 3 failure kinds = 3 sequences" in proc.stdout
    for kind in ("spaghetti", "detachment", "blob"):
        assert f"  {kind} +5 (10 s)" in proc.stdout and f"  {kind} +20 (40 s)" in proc.stdout
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 3 and all(len(r["visibility"]) == 2 for r in rows)
    # Each sequence falls in one band; the band's counts say whether it was caught.
    for r in rows:
        line = next(x for x in proc.stdout.splitlines() if x.startswith(f"  {r['kind']:<11} 0-0.1"))
        cells = line.split("   missed")[0].split()[1:]
        counts = [cells[i + 1] for i in range(0, len(cells), 2)]
        assert sorted(counts) == sorted(["0/0"] * 3 + [f"{int(r['caught'])}/1"]), line
        assert line.endswith(
            f"of them visible (>= 0.1): {int(not r['caught'] and r['visibility'][1] >= 0.1)}"
        )


@pytest.mark.parametrize(
    "argv", [["--at", "ten"], ["--at", "-1"], ["--offset", "999", "--seeds", "5"]]
)
def test_visibility_benchmark_refuses_bad_arguments(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cv_visibility.py"), *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "error:" in proc.stderr, proc.stderr


@pytest.mark.timeout(120)
def test_tracking_benchmark_compares_the_match_with_the_rendered_hotend() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cv_tracking.py"), "--seeds", "1", "--kinds", "blob",
         "--jobs", "1", "--detector", "track=0.5"],
        capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    assert "tuning seeds 1 x blob = 1 sequences; candidate {'track': 0.5}" in text
    rows = {tuple(x.split()[:2]): x.split()[2:] for x in text.splitlines() if x.startswith("blob ")}
    assert set(rows) == {("blob", "before"), ("blob", "after")}
    after = rows["blob", "after"]
    assert after[0] == "25"  # frames counted: onset to onset + 24
    base, cand, ratio = (float(v) for v in after[1:4])
    assert 0 <= base <= 1 and 0 <= cand <= 1 and ratio == pytest.approx(cand / base, abs=0.01)
    assert "candidate/baseline" in text
    # The still-match check: the one sequence falls in one group per detector, and a check
    # at a larger share flags at least as many.
    for name in ("baseline", "candidate"):
        groups = [x.split() for x in text.splitlines() if x.startswith(f"{name} ")]
        assert [" ".join(g[1:4]) for g in groups] == ["off the hotend", "on the hotend"]
        counts = [[int(v) for v in g[4:]] for g in groups]
        assert sum(c[0] for c in counts) == 1
        assert all(c[0] >= c[3] >= c[2] >= c[1] >= 0 for c in counts)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "100000", "--detector", "track=0.5"], "only tuning seeds"),
        (["--seeds", "zero", "--detector", "track=0.5"], "expected ranges"),
        (["--kinds", "fire", "--detector", "track=0.5"], "--kinds: unknown fire"),
        (["--seeds", "1"], "name the candidate"),
        (["--detector", "track=2"], "track must be a share"),
    ],
)
def test_tracking_benchmark_refuses_bad_arguments(argv: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cv_tracking.py"), *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
