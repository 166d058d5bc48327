"""The detector (pure): calibration, decisions on an unmistakable failure, reset, snooze, scene
changes, bad input; and pinned synthetic sequences of every failure type and hard negative."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from jarvis_addon.cv.detector import Detection, Detector, DetectorConfig, Level
from jarvis_addon.cv.evaluate import run_sequence
from jarvis_addon.cv.frames import decode
from jarvis_addon.cv.synth import NEGATIVES, make_sequence


def clean_frames(n: int = 80, seed: int = 1) -> list[np.ndarray]:
    seq = make_sequence(seed, "clean", length=n)
    return [decode(f.jpeg)[0] for f in seq.frames()]


def with_mass(frame: np.ndarray, det: Detector, grow: float) -> np.ndarray:
    """The frame with a bright mass (a detached part / a nest of plastic) in the print region."""
    out = frame.copy()
    region = det._s.roi
    assert region is not None
    ys, xs = np.nonzero(region)
    cy, cx = int(ys.mean()), int(xs.mean()) + 10
    r = int(8 + 24 * grow)
    cv2.circle(out, (cx, cy + 15), r, 250, -1)
    return out


def feed(det: Detector, frames: list[np.ndarray], start: float = 0.0) -> list[Detection]:
    return [det.process(f, now=start + 2.0 * i) for i, f in enumerate(frames)]


def test_calibrates_then_watches_quietly() -> None:
    det = Detector()
    results = feed(det, clean_frames())
    assert all(r.level is Level.CALIBRATING for r in results[:15])
    assert det.calibrated and results[-1].region is not None and len(results[-1].region) >= 3
    assert all(r.level is Level.OK for r in results[16:]), [(r.level, r.score) for r in results]


def test_unmistakable_failure_warns_then_pauses_and_reset_clears_it() -> None:
    det = Detector()
    frames = clean_frames(60)
    feed(det, frames[:45])
    failing = [with_mass(f, det, min(1.0, k / 5)) for k, f in enumerate(frames[45:] * 2)]
    results = feed(det, failing, start=90.0)
    levels = [r.level for r in results]
    assert Level.PAUSE in levels
    first_pause = levels.index(Level.PAUSE)
    assert Level.WARNING in levels[:first_pause]  # the warning level comes first
    assert results[first_pause].kind in ("detachment", "spaghetti") and results[first_pause].box
    # After a pause/resume the judgement starts afresh: no pause on the same frames right away.
    det.reset()
    assert det.calibrated
    after = feed(det, failing[:8], start=500.0)
    assert all(r.level is not Level.PAUSE for r in after)


def test_snooze_suppresses_warning_and_pause() -> None:
    det = Detector()
    frames = clean_frames(60)
    feed(det, frames[:45])
    det.snooze(until=10_000.0)
    failing = [with_mass(f, det, min(1.0, k / 5)) for k, f in enumerate(frames[45:] * 2)]
    results = feed(det, failing, start=90.0)
    assert all(r.level is Level.OK for r in results)
    assert any(r.snoozed for r in results) and max(r.score for r in results) >= 1.0


def test_light_switch_is_not_a_failure() -> None:
    # Was a known gap (xfail): now a pixel must differ from the old background in every frame
    # of the window, not only in their median, and the uneven dimming no longer pauses.
    det = Detector()
    frames = clean_frames(90)
    feed(det, frames[:40])
    # Dimmer, and unevenly: a lamp on one side switched off.
    ramp = np.linspace(0.3, 1.2, frames[0].shape[1], dtype=np.float32)[None, :]
    dimmed = [np.clip(f * ramp, 0, 255).astype(np.uint8) for f in frames[40:]]
    results = feed(det, dimmed, start=80.0)
    assert all(r.level is not Level.PAUSE for r in results), [(r.level, r.score) for r in results]


def test_configured_region_and_new_resolution() -> None:
    poly = ((0.2, 0.3), (0.8, 0.3), (0.8, 0.9), (0.2, 0.9))
    det = Detector(DetectorConfig(roi=poly))
    first = det.process(clean_frames(2)[0])
    assert det.calibrated and first.region is not None
    assert first.region[0] == pytest.approx((0.2, 0.3), abs=0.01)
    det.process(np.zeros((180, 320), np.uint8))  # another size: starts over
    assert det._s.shape == (180, 320)


def test_reset_for_a_new_job_forgets_the_region() -> None:
    det = Detector()
    feed(det, clean_frames(20))
    det.reset(keep_region=False)
    assert not det.calibrated


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"calibration_frames": 1}, "calibration_frames"),
        ({"window": 2}, "window"),
        ({"lag": 0}, "lag"),
        ({"warn_level": 2.0, "pause_level": 1.0}, "warn_level"),
        ({"roi": ((0, 0), (1, 1))}, "at least 3 points"),
        ({"roi": ((0, 0), (1, 1), (2, 0))}, "within 0..1"),
    ],
)
def test_bad_config(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DetectorConfig(**kwargs)  # type: ignore[arg-type]


def test_bad_frames() -> None:
    det = Detector()
    with pytest.raises(ValueError, match="grayscale or BGR"):
        det.process(np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(ValueError, match="grayscale or BGR"):
        det.process(np.zeros((0, 0), np.uint8))
    with pytest.raises(ValueError, match="grayscale or BGR"):
        det.process(np.zeros((0, 0, 3), np.uint8))


# Pinned tuning-split sequences: each failure type is caught after its onset, each hard negative
# passes without a pause. Rates over many seeds are the benchmark's job (benchmarks/cv_bench.py).
# The learned rule (default): seeds 30, 31, 34 are from the slice its decision rule was chosen
# on (28-39, never trained on); blob 34 is its first pinned blob. The handcrafted rule keeps its
# own pins: spaghetti 4 (a slowly growing nest it pauses on at the last frame) is one the
# learned rule misses at its zero-false-pause operating point (docs/cv.md "Measured").
CAUGHT = [
    ("learned", "detachment", 2),
    ("learned", "spaghetti", 1),
    ("learned", "spaghetti", 30),
    ("learned", "detachment", 31),
    ("learned", "blob", 34),
    ("handcrafted", "detachment", 2),
    ("handcrafted", "spaghetti", 4),
    ("handcrafted", "spaghetti", 1),  # colour only
]
IGNORED = [(kind, 0) for kind in NEGATIVES]


@pytest.mark.parametrize(("decision", "kind", "seed"), CAUGHT)
def test_failure_sequences_are_caught(decision: str, kind: str, seed: int) -> None:
    outcome = run_sequence(make_sequence(seed, kind), DetectorConfig(decision=decision))
    assert outcome.caught, outcome
    assert outcome.delay_s is not None and outcome.delay_s <= 90


@pytest.mark.parametrize(("kind", "seed"), IGNORED)
def test_hard_negatives_are_ignored(kind: str, seed: int) -> None:
    outcome = run_sequence(make_sequence(seed, kind))
    assert outcome.first_pause is None, outcome


@pytest.mark.parametrize("n", [3, 5, 7, 9, 15])
def test_sorting_network_median_and_spread_are_exact(n: int) -> None:
    from collections import deque

    from jarvis_addon.cv.detector import _median_and_spread

    rng = np.random.default_rng(n)
    frames = [rng.integers(0, 256, (24, 32), dtype=np.uint8) for _ in range(n)]
    stack = np.stack(frames)
    median, spread = _median_and_spread(deque(frames))
    assert np.array_equal(median, np.median(stack, axis=0).astype(np.uint8))
    assert np.array_equal(spread, stack.max(axis=0) - stack.min(axis=0))
    assert all(np.array_equal(a, b) for a, b in zip(frames, stack, strict=True))  # inputs intact


def test_noise_following_threshold_still_ignores_a_clean_print() -> None:
    # The optional threshold (change_k > 0) follows the backgrounds' noise outside the region.
    det = Detector(DetectorConfig(change_floor=9.0, change_k=4.0))
    results = feed(det, clean_frames(70, seed=3))
    assert det.calibrated
    assert all(r.level is not Level.PAUSE for r in results)


def test_colour_mass_of_the_beds_brightness_is_seen_only_in_colour() -> None:
    # A nest of filament as bright as the bed but another colour: grey cannot see it (the
    # reason spaghetti was missed), the chroma background can.
    seq = make_sequence(1, "clean", length=80)
    colour = [decode(f.jpeg, color=True)[0] for f in seq.frames()]
    det = Detector()
    feed(det, colour[:45])
    region = det._s.roi
    assert region is not None
    ys, xs = np.nonzero(region)
    cy, cx = int(ys.mean()) + 15, int(xs.mean()) + 10

    def painted(frame: np.ndarray, k: int) -> np.ndarray:
        # Each pixel keeps its luma (Y) and turns redder (Cr + 40) inside a growing disc.
        ycc = cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb)
        disc = np.zeros(frame.shape[:2], np.uint8)
        cv2.circle(disc, (cx, cy), int(8 + 24 * min(1.0, k / 5)), 255, -1)
        cr = ycc[:, :, 1]
        cr[disc > 0] = np.clip(cr[disc > 0].astype(np.int16) + 40, 0, 255).astype(np.uint8)
        return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)

    failing = [painted(f, k) for k, f in enumerate(colour[45:] * 2)]
    results = feed(det, failing, start=90.0)
    assert Level.PAUSE in [r.level for r in results], [round(r.score, 2) for r in results]

    grey = Detector()
    feed(grey, [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in colour[:45]])
    results = feed(grey, [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in failing], start=90.0)
    assert all(r.level is Level.OK for r in results), [round(r.score, 2) for r in results]
