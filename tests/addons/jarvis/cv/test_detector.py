"""The detector (pure): calibration, a caught failure (and the handcrafted rule on an unmistakable
mass), reset, snooze, scene changes, bad input; and pinned synthetic sequences of every failure
type and hard negative."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from jarvis_addon.cv import learned, synth
from jarvis_addon.cv.detector import LOST_KIND, Detection, Detector, DetectorConfig, Level
from jarvis_addon.cv.evaluate import run_sequence
from jarvis_addon.cv.frames import decode
from jarvis_addon.cv.synth import NEGATIVES, make_sequence, rendered_hotend_area
from tests.support.cv_frames import PAUSED_ON

from .models import stump_model


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


def failure_frames(kind: str, seed: int) -> list[np.ndarray]:
    """A synthetic failure's frames decoded as the monitor decodes them (colour)."""
    return [decode(f.jpeg, color=True)[0] for f in make_sequence(seed, kind).frames()]


def test_failure_warns_then_pauses_and_reset_clears_it() -> None:
    det = Detector()
    frames = failure_frames(*PAUSED_ON)
    results: list[Detection] = []
    for i, f in enumerate(frames):  # stop at the pause, as the printer would
        results.append(det.process(f, now=2.0 * i))
        if results[-1].level is Level.PAUSE:
            break
    levels = [r.level for r in results]
    assert levels[-1] is Level.PAUSE, [(r.level, round(r.score, 2)) for r in results[-20:]]
    assert Level.WARNING in levels  # the warning level comes first
    assert results[-1].kind == PAUSED_ON[0] and results[-1].box
    # After a pause/resume the judgement starts afresh: no pause on the next frames right away,
    # though the failure is still in view.
    det.reset()
    assert det.calibrated
    n = len(results)
    after = feed(det, frames[n : n + 8], start=2.0 * n)
    assert len(after) == 8 and all(r.level is not Level.PAUSE for r in after)


def test_handcrafted_rule_pauses_on_an_unmistakable_mass() -> None:
    # The fallback when the model cannot be loaded: a bright mass growing in the print region.
    det = Detector(DetectorConfig(decision="handcrafted"))
    frames = clean_frames(60)
    feed(det, frames[:45])
    failing = [with_mass(f, det, min(1.0, k / 5)) for k, f in enumerate(frames[45:] * 2)]
    levels = [r.level for r in feed(det, failing, start=90.0)]
    assert Level.PAUSE in levels
    assert Level.WARNING in levels[: levels.index(Level.PAUSE)]


def test_snooze_suppresses_warning_and_pause() -> None:
    det = Detector()
    frames = failure_frames(*PAUSED_ON)
    feed(det, frames[:20])
    det.snooze(until=10_000.0)
    results = feed(det, frames[20:], start=40.0)
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
        ({"size_switch": 1.5}, "size_switch"),
        ({"size_threshold": 0}, "size_threshold"),
        ({"size_blur": 31}, "size_blur"),
        ({"track": 1.5}, "track"),
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
# The learned rule (default): seeds 28, 30, 35, 36 are from the slice its decision rule and
# tree depth were chosen on (28-39 and 80-89, never trained on). The handcrafted rule keeps its
# own pins: spaghetti 4 is a slowly growing nest it pauses on at the last frame.
CAUGHT = [
    ("learned", "detachment", 28),
    ("learned", "spaghetti", 1),
    ("learned", "spaghetti", 30),
    ("learned", "blob", 35),
    ("learned", "blob", 36),
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
    # reason spaghetti was missed), the chroma background can. What the pipeline sees is read
    # by the handcrafted rule (the persistent area alone): the learned layer's figures are
    # measured on rendered failures, and model L's probability on this painted disc rises to
    # about 0.9 without pausing.
    seq = make_sequence(1, "clean", length=80)
    colour = [decode(f.jpeg, color=True)[0] for f in seq.frames()]
    area_only = DetectorConfig(decision="handcrafted")
    det = Detector(area_only)
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

    grey = Detector(area_only)
    feed(grey, [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in colour[:45]])
    results = feed(grey, [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in failing], start=90.0)
    assert all(r.level is Level.OK for r in results), [round(r.score, 2) for r in results]


def raw_features(
    seed: int, kind: str, tmp_path: Path, track: float | None = None
) -> tuple[dict[str, np.ndarray], int]:
    """Per watched frame, each raw feature of the learned layer (NaN while unavailable)."""
    seq = make_sequence(seed, kind)
    # No model: the handcrafted rule decides, the features are measured all the same.
    tracking = {} if track is None else {"track": track}
    det = Detector(DetectorConfig(model_path=str(tmp_path / "absent.json"), **tracking))
    rows, index = [], []
    for frame in seq.frames():
        r = det.process(decode(frame.jpeg, color=True)[0], now=2.0 * frame.index)
        if r.features is not None:
            rows.append(r.features)
            index.append(frame.index)
    table = np.array(rows)
    out = {name: table[:, i] for i, name in enumerate(learned.RAW_FEATURES)}
    out["index"] = np.array(index)
    return out, -1 if seq.onset is None else seq.onset


def test_hotend_look_is_refined_from_matches_against_a_hotend_free_background() -> None:
    # The calibration crop is cut where the hotend overlapped itself; the refined look's
    # pixels are what differs at the matches once the background is free of it.
    det = Detector(DetectorConfig(decision="handcrafted"))
    seq = make_sequence(3, "blob")
    for frame in seq.frames():
        det.process(decode(frame.jpeg, color=True)[0])
        if frame.index == 60:
            break
    s = det._s
    assert s.look is not None and s.template is not None and s.body is not None
    look, clook, body = s.look
    assert look.shape == s.template.shape and clook is not None
    assert 0.6 * s.hotend_size <= body.sum() <= 1.5 * s.hotend_size
    assert body.sum() > s.body.sum()  # the calibration crop's mask missed part of it
    # A reset (pause/resume) keeps it; a new job (new region) measures it again.
    det.reset()
    assert det._s.look is not None
    det.reset(keep_region=False)
    assert det._s.look is None


@pytest.mark.parametrize("seed", [1, 2])
def test_a_blob_changes_the_bottom_of_the_hotend_and_hangs_below_it(
    seed: int, tmp_path: Path
) -> None:
    feats, onset = raw_features(seed, "blob", tmp_path)
    clean, _ = raw_features(seed, "clean", tmp_path)
    late = feats["index"] >= onset + 15
    before = feats["index"] < onset
    for name in ("body_low_rel", "below_rel"):
        # Over the scene's own level once the blob has grown; not before, not on a clean print.
        assert np.nanmean(feats[name][late]) > 0.08, name
        assert abs(np.nanmean(feats[name][before])) < 0.05, name
        assert abs(np.nanmean(clean[name])) < 0.05, name
    # The top of the hotend stays as it was (a hand or a bad match would change it too).
    assert np.nanmean(feats["body_high"][late]) < np.nanmean(feats["body_low"][late])


def test_pinned_area_keeps_a_detachment_counting_after_the_sliding_reference_caught_up(
    tmp_path: Path,
) -> None:
    feats, onset = raw_features(2, "detachment", tmp_path)
    late = feats["index"] >= onset + 30
    assert np.nanmax(feats["area"][late]) < 0.2  # the 30-s reference holds the moved part
    assert np.nanmin(feats["area_pinned"][late]) > 0.8  # the pinned one does not
    clean, _ = raw_features(2, "clean", tmp_path)
    assert np.nanmax(clean["area_pinned"][-100:]) < 0.3


def test_lost_is_the_bare_bed_where_a_vanished_part_stood(tmp_path: Path) -> None:
    # Seed 37: the part (no brim) vanishes at the onset; the bed shows where it stood.
    feats, onset = raw_features(37, "detachment", tmp_path)
    after = (feats["index"] >= onset) & (feats["index"] < onset + 30)
    assert np.nanmax(feats["lost"][feats["index"] < onset]) == 0.0
    assert np.nanmax(feats["lost"][after]) > 0.4  # hotend areas
    assert np.nanmax(feats["lost_share"][after]) > 0.4  # of the area the part stood on
    # Where a part vanished the bed shows steadily too: the same figure in `lost_steady`.
    assert np.nanmax(feats["lost_steady"][after]) > 0.4
    assert np.nanmax(feats["lost_steady_share"][after]) > 0.4
    assert np.all(feats["lost_steady"] <= feats["lost"])
    # A growing part only covers more bed; a light switch moves bed and part alike; a cable
    # swinging with the hotend is not in the background. Clean seed 0's hotend hovers over a
    # small part, in the median background but not in every frame: it is not part (0.58
    # hotend areas "lost" when every frame of the window was not required).
    for kind in ("clean", "lights", "cables"):
        negative, _ = raw_features(0, kind, tmp_path)
        assert np.nanmax(negative["lost"]) < 0.1, kind


def test_lost_steady_wants_the_bare_bed_in_most_frames_of_the_window(tmp_path: Path) -> None:
    # Supports seed 103, stringing seed 116, matched by the hotend's look alone (`track`
    # off): the dark hotend in front of the part passed for bare bed in the median background
    # and in this frame, so `lost` fired on a clean print; it is not bed in most frames of the
    # window. With `track` (the default) the ghost is gone on seed 103 (the match stays on the
    # hotend, kept out of the background) and still kept out of `lost_steady` on seed 116.
    for seed, kind in ((103, "supports"), (116, "stringing")):
        negative, _ = raw_features(seed, kind, tmp_path, track=0.0)
        assert np.nanmax(negative["lost"]) > 0.3, kind
        assert np.nanmax(negative["lost_steady"]) < 0.05, kind
        # The steady pixels are a subset of the lost ones (an opening keeps inclusion).
        assert np.all(negative["lost_steady"] <= negative["lost"]), kind
        assert np.all(negative["lost_steady_share"] <= negative["lost_share"]), kind
        tracked, _ = raw_features(seed, kind, tmp_path)
        assert np.nanmax(tracked["lost_steady"]) < 0.05, kind
        if seed == 103:
            assert np.nanmax(tracked["lost"]) < 0.1


def test_a_pause_on_bare_bed_is_reported_as_a_detachment_where_the_part_stood(
    tmp_path: Path,
) -> None:
    # The learned layer deciding on `lost_steady` alone: the evidence box and kind must name
    # the detachment where the part stood, not a blob at the hotend.
    det = Detector(DetectorConfig(model_path=str(stump_model(tmp_path, "lost_steady", 0.3))))
    seq = make_sequence(37, "detachment")
    for frame in seq.frames():
        r = det.process(decode(frame.jpeg, color=True)[0], now=2.0 * frame.index)
        if r.level is Level.PAUSE:
            break
    assert r.level is Level.PAUSE and seq.onset is not None and frame.index >= seq.onset
    assert r.kind == "detachment" and r.box is not None
    scene = synth._Scene(seq)
    w, h = seq.size
    foot = scene.cam.project(np.c_[scene.footprint, np.zeros(len(scene.footprint))])
    cx, cy = foot.mean(axis=0) / (w, h)
    x0, y0, x1, y1 = r.box
    assert x0 <= cx <= x1 and y0 <= cy <= y1, (r.box, (cx, cy))


def test_the_hotend_passing_for_bare_bed_does_not_name_a_detachment(tmp_path: Path) -> None:
    # Supports seed 103, `track` off: `lost` (not `lost_steady`) fires for a few frames where
    # the dark hotend stands in front of the part. The kind a learned pause would report comes
    # from the steady bare bed, so on those frames it is not a detachment: the part stands.
    det = Detector(DetectorConfig(model_path=str(stump_model(tmp_path, "lost", 0.3)), track=0.0))
    lost, steady = (learned.RAW_FEATURES.index(n) for n in ("lost", "lost_steady"))
    ghosts = []
    for frame in make_sequence(103, "supports").frames():
        r = det.process(decode(frame.jpeg, color=True)[0], now=2.0 * frame.index)
        if r.features is not None and r.features[lost] >= LOST_KIND:
            ghosts.append((frame.index, r.kind, r.features[steady]))
    assert ghosts
    assert all(kind == "blob" and s < LOST_KIND for _, kind, s in ghosts), ghosts


@pytest.mark.parametrize(("kind", "seed"), [("spaghetti", 6), ("detachment", 2), ("blob", 35)])
def test_the_bundled_model_names_the_failure_it_pauses_on(kind: str, seed: int) -> None:
    # What the event and the evidence say. Spaghetti seed 6 was named a blob at the hotend
    # (the change in the region was still small); the strands name it now.
    outcome = run_sequence(make_sequence(seed, kind))
    assert outcome.caught and outcome.named == kind, outcome


@pytest.mark.parametrize("seed", [5, 0])
def test_areas_are_in_hotend_units_floored_when_the_hotend_barely_shows(
    seed: int, tmp_path: Path
) -> None:
    # Clean seed 5: a dark hotend over a dark bed, only its nozzle differs from the background
    # when calibrating. Its measured size must not become the unit of every area.
    det = Detector(DetectorConfig(model_path=str(tmp_path / "absent.json")))
    assert det.area_unit is None and det.hotend_area is None  # not calibrated yet
    frames = clean_frames(90, seed)
    results = feed(det, frames[:40])
    region = det._s.roi
    assert region is not None
    ys, xs = np.nonzero(region)
    y0, x0 = int(ys.min()) + 4, int(xs.min()) + 4  # a corner of the region, off the part
    side = 20
    later = []
    for frame in frames[40:]:
        marked = frame.copy()
        marked[y0 : y0 + side, x0 : x0 + side] = 250  # something new that stays: side x side px
        later.append(marked)
    results += feed(det, later, start=80.0)
    feats = results[-1].features
    assert feats is not None
    h, w = frames[0].shape[:2]
    hotend_px = feats[learned.RAW_FEATURES.index("hotend_scale")] * h * w / 1000
    floor_px = det.config.unit_floor * h * w
    assert det.hotend_area == pytest.approx(hotend_px)
    assert det.area_unit == pytest.approx(max(hotend_px, floor_px))
    rendered = rendered_hotend_area(make_sequence(seed, "clean"), w)
    if seed == 5:
        assert hotend_px < 0.1 * floor_px  # what calibration saw: a few pixels
        assert rendered > 50 * hotend_px  # of a hotend of ~900 (the synthetic label)
    else:
        assert hotend_px > floor_px  # a hotend in full view is its own unit
        assert 0.5 * rendered < hotend_px < 1.5 * rendered
    area = max(r.area for r in results[47:70])
    # In pixels again, by the unit it should have used: the square (JPEG blurs its edge by
    # a pixel or two; the hotend may cover a little of it).
    changed_px = area * max(hotend_px, floor_px)
    assert 0.8 * side * side <= changed_px <= (side + 6) ** 2


def _first_frames(seq: synth.Sequence, dets: list[Detector], n: int = 40) -> list[list[Detection]]:
    out: list[list[Detection]] = [[] for _ in dets]
    for frame in seq.frames():
        if frame.index >= n:
            break
        image = decode(frame.jpeg, color=True)[0]
        for det, results in zip(dets, out, strict=True):
            results.append(det.process(image, now=frame.index * synth.FRAME_INTERVAL_S))
    return out


def test_a_dark_hotend_over_a_dark_bed_is_sized_on_the_smoothed_change() -> None:
    # Clean seed 4: a bed of luma ~55 behind the hotend's ~35. At diff_threshold only the
    # nozzle and the part behind it register (0.23x the rendered hotend); the change smoothed
    # over 3 px at a threshold of 6 shows the body (1.3x). The size holds through a reset.
    seq = make_sequence(4, "clean")
    base = Detector(DetectorConfig(decision="handcrafted"))
    fine = Detector(DetectorConfig(decision="handcrafted", size_switch=0.6))
    _first_frames(seq, [base, fine])
    rendered = rendered_hotend_area(seq, decode(next(seq.frames()).jpeg)[0].shape[1])
    assert base.hotend_area is not None and fine.hotend_area is not None
    assert base.hotend_area / rendered < 0.5
    assert 0.75 < fine.hotend_area / rendered < 1.5
    size = fine.hotend_area
    fine.reset()
    frames = [decode(f.jpeg, color=True)[0] for f in seq.frames() if 40 <= f.index < 80]
    growth = [r.growth for r in feed(fine, frames) if r.growth]
    assert fine.hotend_area == size
    # Measured on the same smoothed change as the calibration: the hotend is about its own
    # size (on the unsmoothed change it would read ~0.2x).
    assert growth and 0.6 < float(np.median(growth)) < 1.6, growth


def test_the_size_switch_leaves_a_well_calibrated_scene_as_it_was() -> None:
    # Blob seed 1 calibrates at 0.98x on the unsmoothed change: no switch, and every feature of
    # every frame is the same with the switch on as off (the candidate changes dark scenes only).
    seq = make_sequence(1, "blob")
    off = Detector(DetectorConfig(model_path=None))
    on = Detector(DetectorConfig(model_path=None, size_switch=0.6))
    a, b = _first_frames(seq, [off, on], n=70)
    assert off.hotend_area == on.hotend_area
    assert sum(r.features is not None for r in a) > 20
    for ra, rb in zip(a, b, strict=True):
        assert (ra.features is None) == (rb.features is None)
        if ra.features is not None and rb.features is not None:
            np.testing.assert_array_equal(np.array(ra.features), np.array(rb.features))
        assert ra.level == rb.level


def test_tracking_keeps_the_match_on_the_hotend() -> None:
    # Clean seed 11: the hotend's template holds the bright part it was taken over, and by its
    # look alone the match goes to dark bed beside the part in most frames. What moved in since
    # both frames before is the hotend: with `track` the match is on it (the rendered box, a
    # label) in every frame, at the look's own correlation there.
    seq = make_sequence(11, "clean", length=100)
    boxes = synth.hotend_boxes(seq, 320)
    base = Detector(DetectorConfig(model_path=None, track=0.0))
    tracked = Detector(DetectorConfig(model_path=None, track=0.5))
    assert base.hotend_match is None  # no template yet
    on = [0, 0]
    corr: list[float] = []
    for frame in seq.frames():
        image = decode(frame.jpeg, color=True)[0]
        for k, det in enumerate((base, tracked)):
            det.process(image, now=frame.index * synth.FRAME_INTERVAL_S)
            match = det.hotend_match
            if frame.index < 40:
                continue
            assert match is not None and det._s.template is not None
            x0, y0, x1, y1 = match[1]
            assert (y1 - y0, x1 - x0) == det._s.template.shape[:2]
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            bx0, by0, bx1, by1 = boxes[frame.index]
            on[k] += bx0 - 2 <= cx <= bx1 + 2 and by0 - 2 <= cy <= by1 + 2
            if k:
                corr.append(match[0])
    assert on[0] <= 20 and on[1] >= 57, on  # of 60 frames
    assert min(corr) >= tracked.config.hotend_match  # so the hotend is kept out of the background


def test_blob_recolours_the_hotend_body_low_against_its_own_top() -> None:
    # Blob seed 6 (green filament): the blob covers the bottom of the dark hotend body, which
    # then differs from the body's own top in the same frame; the clean print of the same scene
    # keeps one body colour. 8-frame medians, as `cv_train.py separate` scores them.
    idx = learned.RAW_FEATURES.index("body_low_self")
    highs = {}
    for kind in ("blob", "clean"):
        seq = make_sequence(6, kind, length=110)
        det = Detector(DetectorConfig(model_path=None, track=0.5))
        vals: list[float] = []
        for frame in seq.frames():
            if frame.event is not None:
                det.reset()
            if frame.paused:
                continue
            res = det.process(decode(frame.jpeg, color=True)[0], now=2.0 * frame.index)
            if frame.index >= 40 and res.features is not None:
                vals.append(res.features[idx])
        assert len(vals) >= 40, kind
        highs[kind] = max(float(np.median(vals[i - 8 : i])) for i in range(8, len(vals) + 1))
    assert highs["blob"] >= 0.5 and highs["clean"] <= 0.05, highs
