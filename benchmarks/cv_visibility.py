"""How visible each failure is, and the CV detector's recall read against it.

    .venv-addon/bin/python benchmarks/cv_visibility.py [--seeds N] [--offset K] [--jobs J]
                                                       [--at 10,25] [--detector NAME=VALUE ...]

For each held-out failure sequence (`--seeds` seeds from `synth.HELDOUT_SEEDS[--offset]`, the
three failure kinds) the detector runs as `cv_bench` runs it (the bundled model, or a candidate
with `--detector`), and the failure's visibility is measured at `--at` frames after its onset:
the frame against the same print had it not failed (`synth.failure_visibility`: same scene,
light, noise and shake), the pixels of the ~320-px frame the detector works on where a colour
channel differs by more than 20 levels, in rendered hotend areas. Printed per kind: the
visibility's percentiles, and recall in bands of it at the last `--at`; a failure missed though
clearly visible is the detector's to catch, one that changes nothing is no camera's.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
import json
from pathlib import Path
import sys
import time
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "addons" / "jarvis"))

import cv2  # noqa: E402
from cv_args import heldout_args, heldout_parser  # noqa: E402
import numpy as np  # noqa: E402

from jarvis_addon.cv.detector import DetectorConfig  # noqa: E402
from jarvis_addon.cv.evaluate import run_sequence  # noqa: E402
from jarvis_addon.cv.frames import WORK_WIDTH  # noqa: E402
from jarvis_addon.cv.synth import (  # noqa: E402
    FAILURES,
    FRAME_INTERVAL_S,
    GENERATOR_VERSION,
    failure_visibility,
    make_sequence,
)

# Bands of visibility (hotend areas) for recall: next to nothing, a little, plain, large.
EDGES = (0.1, 0.3, 1.0)


def measure(job: tuple[int, str, tuple[int, ...], dict[str, Any]]) -> dict[str, Any]:
    """One failure: caught or not, its calibration, its visibility at each offset."""
    cv2.setNumThreads(1)
    seed, kind, at, overrides = job
    seq = make_sequence(seed, kind)
    outcome = run_sequence(seq, DetectorConfig(**overrides))
    onset = seq.onset if seq.onset is not None else 0
    vis = [failure_visibility(seq, min(onset + k, seq.length - 1), WORK_WIDTH) for k in at]
    return {"seed": seed, "kind": kind, "caught": outcome.caught,
            "calibration": outcome.calibration, "visibility": vis}  # fmt: skip


def bands(rows: list[dict[str, Any]]) -> list[tuple[float, float, int, int]]:
    """(low, high, caught, total) per band of the last offset's visibility."""
    out = []
    for low, high in zip((0.0, *EDGES), (*EDGES, float("inf")), strict=True):
        sel = [r for r in rows if low <= r["visibility"][-1] < high]
        out.append((low, high, sum(r["caught"] for r in sel), len(sel)))
    return out


def main() -> None:
    parser = heldout_parser(__doc__, "held-out seeds, each failure kind")
    parser.add_argument("--at", default="10,25", help="frames after the onset (comma-separated)")
    parser.add_argument("--json", help="write every sequence's row here")
    args, overrides, seeds = heldout_args(parser)
    try:
        at = tuple(int(v) for v in args.at.split(","))
    except ValueError:
        parser.error(f"--at: expected frame offsets like 10,25, got {args.at!r}")
    if not at or min(at) < 0:
        parser.error("--at: frame offsets must be 0 or more")
    jobs = [(seed, kind, at, overrides) for kind in FAILURES for seed in seeds]
    started = time.monotonic()
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        rows = list(pool.map(measure, jobs, chunksize=1))
    print(
        f"CV visibility: generator {GENERATOR_VERSION}, held-out seeds {seeds.start}..{seeds.stop - 1}"
        f" x {len(FAILURES)} failure kinds = {len(rows)} sequences, {WORK_WIDTH} px wide frames"
        + (f"; detector {overrides}" if overrides else "")
    )
    print("pixels the failure changes by > 20 levels, in hotend areas; percentiles 10 25 50 75 90:")
    for kind in FAILURES:
        sel = [r for r in rows if r["kind"] == kind]
        for j, k in enumerate(at):
            q = np.percentile([r["visibility"][j] for r in sel], [10, 25, 50, 75, 90])
            label = f"{kind} +{k} ({k * FRAME_INTERVAL_S:.0f} s)"
            print(f"  {label:<24}" + "".join(f"{v:7.2f}" for v in q))
    last = at[-1]
    print(f"recall by visibility at onset +{last} ({last * FRAME_INTERVAL_S:.0f} s):")
    for kind in FAILURES:
        sel = [r for r in rows if r["kind"] == kind]
        cells = "  ".join(
            (f"{low:g}-{high:g} {c}/{n}" if high != float("inf") else f">={low:g} {c}/{n}")
            for low, high, c, n in bands(sel)
        )
        missed = [r for r in sel if not r["caught"]]
        seen = sum(r["visibility"][-1] >= EDGES[0] for r in missed)
        print(
            f"  {kind:<11} {cells}   missed {len(missed)}, of them visible (>= {EDGES[0]:g}): {seen}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"at": at, "detector": overrides, "rows": rows}))
    print(f"Took {time.monotonic() - started:.0f} s.")


if __name__ == "__main__":
    main()
