"""How often the CV detector's hotend match is on the hotend: the baseline and a candidate, side by side.

    .venv-addon/bin/python benchmarks/cv_tracking.py --detector track=true [--seeds 0-39]
                                                     [--kinds clean,blob] [--jobs 2]

The blob features (and the hotend kept out of the background) read the frame at the hotend's
template match. For each synthetic tuning sequence, both detectors see the same decoded frames;
after each printing frame from frame 40 on (calibrated, the look refined), the match's centre
is compared with the hotend's box as rendered (`synth.hotend_boxes`, a label like the onset):
on the hotend when within the box and 2 px (at the detector's 320 px). Printed per kind, before
the onset and in the 25 frames (50 s) after it: the share on the hotend and the median distance
from the box, for both detectors and candidate/baseline; and each detector's ms per frame
(detector only, decode excluded) with their ratio; and whether the sequences whose match is
mostly off the hotend are the ones whose match hardly moves (`still_check`). Tuning seeds
only, like `cv_train.py`: this measures a candidate before any extraction.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import sys
import time
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "addons" / "jarvis"))

import cv2  # noqa: E402
from cv_train import parse_range  # noqa: E402
import numpy as np  # noqa: E402

from jarvis_addon.cv.detector import Detector, DetectorConfig  # noqa: E402
from jarvis_addon.cv.evaluate import config_overrides  # noqa: E402
from jarvis_addon.cv.frames import WORK_WIDTH, decode  # noqa: E402
from jarvis_addon.cv.synth import KINDS, hotend_boxes, make_sequence  # noqa: E402

FIRST = 40  # calibration (15 frames), the background's window, the look's first crops
AFTER = 25  # frames after the onset (50 s, the p90 goal's 60 s less a margin)
SLACK = 2.0  # px at WORK_WIDTH: the half-resolution match's own step


def distance(centre: tuple[float, float], label: np.ndarray[Any, Any]) -> float:
    """Px from the match's centre to the rendered box (0 inside it)."""
    cx, cy = centre
    dx = max(label[0] - cx, 0.0, cx - label[2])
    dy = max(label[1] - cy, 0.0, cy - label[3])
    return float(np.hypot(dx, dy))


def measure(job: tuple[int, str, dict[str, Any]]) -> dict[str, Any]:
    """Per detector: (phase, distance) of each counted frame, and its seconds in `process`."""
    cv2.setNumThreads(1)
    seed, kind, overrides = job
    seq = make_sequence(seed, kind)
    labels = hotend_boxes(seq, WORK_WIDTH)
    dets = [Detector(DetectorConfig()), Detector(DetectorConfig(**overrides))]
    rows: list[list[tuple[str, float, float, float]]] = [[], []]  # phase, px off, centre
    spent = [0.0, 0.0]
    watched = 0
    for frame in seq.frames():
        if seq.onset is not None and frame.index >= seq.onset + AFTER:
            break
        if frame.event is not None:
            for d in dets:
                d.reset()
        if frame.paused:
            continue  # as the monitor: nothing is watched while the job is paused
        image = decode(frame.jpeg, color=True)[0]
        watched += 1
        for k, d in enumerate(dets):
            t0 = time.perf_counter()
            d.process(image, now=2.0 * frame.index)
            spent[k] += time.perf_counter() - t0
            match = d.hotend_match
            if frame.index < FIRST or match is None:
                continue
            phase = "before" if seq.onset is None or frame.index < seq.onset else "after"
            box = match[1]
            centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            rows[k].append((phase, distance(centre, labels[frame.index]), *centre))
    return {"kind": kind, "rows": rows, "spent": spent, "frames": watched}


def on_hotend(dist: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Which distances count as on the hotend (within SLACK of its rendered box)."""
    return dist <= SLACK


def still_check(results: list[dict[str, Any]]) -> None:
    """Whether a match that hardly moves tells a template that is not the hotend.

    Per sequence, before the onset: the share of frames on the hotend, and the share whose
    match moved more than SLACK px since the counted frame before (the hotend moves while
    printing; a crop of the part or the bed does not; a frame with no match is not counted,
    so a move may span it). Printed for both detectors: sequences mostly off the hotend
    (< 50 % on) and mostly on it, and how many of each moved in fewer than 10, 20 and 40 %
    of frames (what a check at that share would flag).
    """
    print("a still match (moved > 2 px in fewer than X of the frames before the onset):")
    print(f"{'detector':<11}{'sequences':<18}{'n':>4}{'X=0.1':>7}{'X=0.2':>7}{'X=0.4':>7}")
    for k, name in ((0, "baseline"), (1, "candidate")):
        groups: dict[str, list[float]] = {"off the hotend": [], "on the hotend": []}
        for r in results:
            rows = [row for row in r["rows"][k] if row[0] == "before"]
            if len(rows) < 10:
                continue
            on = float(np.mean(on_hotend(np.array([row[1] for row in rows]))))
            xy = np.array([row[2:] for row in rows])
            moved = float(np.mean(np.hypot(*np.diff(xy, axis=0).T) > SLACK))
            groups["on the hotend" if on >= 0.5 else "off the hotend"].append(moved)
        for label, shares in groups.items():
            v = np.array(shares)
            flagged = "".join(f"{int((v < x).sum()):>7}" for x in (0.1, 0.2, 0.4))
            print(f"{name:<11}{label:<18}{len(v):>4}{flagged}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-39", help="tuning seeds, e.g. 0-39")
    parser.add_argument("--kinds", default="clean,blob")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--detector", action="append", default=[], metavar="NAME=VALUE",
        help="the candidate's DetectorConfig field (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    seeds = parse_range(args.seeds)
    kinds = args.kinds.split(",")
    if bad := [k for k in kinds if k not in KINDS]:
        parser.error(f"--kinds: unknown {', '.join(bad)}; expected some of {', '.join(KINDS)}")
    try:
        overrides = config_overrides(args.detector)
    except ValueError as err:
        parser.error(f"--detector: {err}")
    if not overrides:
        parser.error("--detector: name the candidate (e.g. --detector track=true)")
    started = time.monotonic()
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(measure, [(s, k, overrides) for s in seeds for k in kinds]))
    print(
        f"CV hotend tracking: tuning seeds {args.seeds} x {', '.join(kinds)}"
        f" = {len(results)} sequences; candidate {overrides}"
    )
    print(f"on the hotend: the match's centre within its rendered box + {SLACK:.0f} px")
    print(
        f"{'kind':<12}{'phase':<8}{'frames':>7}{'base on':>9}{'cand on':>9}{'ratio':>7}"
        f"{'base px':>9}{'cand px':>9}"
    )
    for kind in kinds:
        for phase in ("before", "after"):
            dist = [
                np.array(
                    [
                        row[1]
                        for r in results
                        if r["kind"] == kind
                        for row in r["rows"][k]
                        if row[0] == phase
                    ]
                )
                for k in (0, 1)
            ]
            if not len(dist[0]) or not len(dist[1]):
                continue
            on = [float(np.mean(on_hotend(x))) for x in dist]
            print(
                f"{kind:<12}{phase:<8}{len(dist[0]):>7}{on[0]:>9.3f}{on[1]:>9.3f}"
                f"{on[1] / max(on[0], 1e-9):>7.2f}{np.median(dist[0]):>9.1f}{np.median(dist[1]):>9.1f}"
            )
    still_check(results)
    frames = sum(r["frames"] for r in results)
    ms = [1000 * sum(r["spent"][k] for r in results) / frames for k in (0, 1)]
    print(
        f"ms per frame (detector only, {frames} frames): baseline {ms[0]:.2f},"
        f" candidate {ms[1]:.2f}, candidate/baseline {ms[1] / ms[0]:.2f}"
    )
    print(f"Took {time.monotonic() - started:.0f} s.")


if __name__ == "__main__":
    main()
