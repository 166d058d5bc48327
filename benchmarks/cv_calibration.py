"""How well the CV detector calibrates the unit of every area: its hotend area vs the rendered one.

    .venv-addon/bin/python benchmarks/cv_calibration.py [--seeds N] [--offset K] [--jobs J]
                                                        [--detector NAME=VALUE ...]

Every persistent-change area the detector measures is in hotend areas, the hotend being the
largest moving object while it calibrates. For each held-out sequence (every kind, `--seeds`
seeds from `synth.HELDOUT_SEEDS[--offset]`) the detector sees the first 30 frames as the monitor
decodes them; its unit (`Detector.area_unit`) is compared with the hotend's area as rendered
(`synth.rendered_hotend_area`, a label like the onset). Side by side in the same run: the
baseline unit before the fifth pass, the calibrated size floored at 50 px. Printed: percentiles
of unit / rendered, the share within 0.5-2x, and ours/baseline. Also the hotend size itself
(unfloored: the blob features read the hotend's look at that size), and with `--detector` a
candidate detector's size and unit on the same frames (e.g. `--detector size_switch=0.6`).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import sys
import time
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "addons" / "jarvis"))

import cv2  # noqa: E402
from cv_args import heldout_args, heldout_parser  # noqa: E402
import numpy as np  # noqa: E402

from jarvis_addon.cv.detector import Detector, DetectorConfig  # noqa: E402
from jarvis_addon.cv.frames import WORK_WIDTH, decode  # noqa: E402
from jarvis_addon.cv.synth import GENERATOR_VERSION, KINDS, make_sequence, rendered_hotend_area  # noqa: E402

FRAMES = 30  # calibration (15) and the hotend measured again once kept out of the background
OLD_FLOOR_PX = 50.0  # the unit's floor before the fifth pass


def measure(job: tuple[int, str, dict[str, Any]]) -> tuple[float, ...]:
    """Rendered px; our unit, the baseline unit and our size (px); the candidate's size and unit."""
    cv2.setNumThreads(1)
    seed, kind, overrides = job
    seq = make_sequence(seed, kind)
    # No model file: the handcrafted rule decides; the unit does not depend on the decision.
    no_model = str(ROOT / "no-model.json")
    det = Detector(DetectorConfig(model_path=no_model))
    cand = Detector(DetectorConfig(**{**overrides, "model_path": no_model})) if overrides else None
    for frame in seq.frames():
        if frame.index >= FRAMES:
            break
        image = decode(frame.jpeg, color=True)[0]
        for d in (det, cand):
            if d is not None:
                d.process(image, now=2.0 * frame.index)
    row = [rendered_hotend_area(seq, WORK_WIDTH)]
    for d in (det, cand):
        if d is None:
            continue
        unit, size = d.area_unit, d.hotend_area
        if unit is None or size is None:
            raise RuntimeError(f"{kind} {seed}: not calibrated after {FRAMES} frames")
        row += [unit, max(size, OLD_FLOOR_PX), size] if d is det else [size, unit]
    return tuple(row)


def summary(name: str, ratio: np.ndarray[tuple[int], np.dtype[np.float64]]) -> float:
    q = np.percentile(ratio, [1, 10, 25, 50, 75, 90, 99])
    within = float(np.mean((ratio >= 0.5) & (ratio <= 2.0)))
    print(
        f"  {name:<24}" + "".join(f"{v:7.2f}" for v in q) + f"   {within:6.1%}"
        f"   {float(np.mean(ratio < 0.5)):6.1%}"
    )
    return within


def main() -> None:
    parser = heldout_parser(__doc__, "held-out seeds, every kind")
    args, overrides, seeds = heldout_args(parser)
    jobs = [(seed, kind, overrides) for seed in seeds for kind in KINDS]
    started = time.monotonic()
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        rows = list(pool.map(measure, jobs))
    table = np.array(rows)
    rendered = table[:, 0]
    ours, base, size = (table[:, i] / rendered for i in (1, 2, 3))
    print(
        f"CV calibration: generator {GENERATOR_VERSION}, held-out seeds {seeds.start}..{seeds.stop - 1}"
        f" x {len(KINDS)} kinds = {len(rows)} sequences, {WORK_WIDTH} px wide frames"
    )
    print(
        f"rendered hotend: median {np.median(rendered):.0f} px"
        f" (1st percentile {np.percentile(rendered, 1):.0f})"
    )
    print(
        "unit / rendered hotend area, percentiles 1 10 25 50 75 90 99, within 0.5-2x, under 0.5x:"
    )
    within_ours = summary("ours (floored at 0.5 %)", ours)
    within_base = summary("baseline (floor 50 px)", base)
    print(f"within 0.5-2x, ours/baseline: {within_ours / max(within_base, 1e-9):.2f}")
    print("hotend size (no floor) / rendered hotend area:")
    within_size = summary("ours", size)
    if overrides:
        print(f"candidate detector {overrides}, on the same frames:")
        within_cand = summary("candidate size", table[:, 4] / rendered)
        summary("candidate unit", table[:, 5] / rendered)
        print(f"size within 0.5-2x, candidate/ours: {within_cand / max(within_size, 1e-9):.2f}")
    print(f"Took {time.monotonic() - started:.0f} s.")


if __name__ == "__main__":
    main()
