"""cv/evaluate.py: the nearest-rank percentile, and a second model compared on the same frames."""

from __future__ import annotations

from collections import Counter
import math
from pathlib import Path
import re

import pytest

from jarvis_addon.cv import learned
from jarvis_addon.cv.detector import Detector, DetectorConfig
from jarvis_addon.cv.evaluate import (
    SequenceOutcome,
    Summary,
    config_overrides,
    percentile,
    run_all,
    run_sequence,
)
from jarvis_addon.cv.frames import WORK_WIDTH, decode
from jarvis_addon.cv.synth import (
    FILAMENT_NAMES,
    FRAME_INTERVAL_S,
    filament_name,
    make_sequence,
    rendered_hotend_area,
)

from .models import stump_model


def test_percentile_is_nearest_rank_and_nan_when_empty() -> None:
    assert percentile([30.0, 10.0, 20.0], 50) == 20.0  # sorted first
    assert percentile([float(v) for v in range(1, 11)], 90) == 9.0  # ceil(0.9 * 10) = 9th
    assert percentile([float(v) for v in range(1, 12)], 90) == 10.0  # ceil(9.9) = 10th
    assert percentile([5.0], 90) == 5.0
    assert percentile([1.0, 2.0], 0) == 1.0
    assert math.isnan(percentile([], 90))


@pytest.mark.parametrize(("seed", "kind"), [(2, "detachment"), (1, "pause"), (4, "lights")])
def test_a_compared_model_decides_as_the_detector_would_with_it(
    seed: int, kind: str, tmp_path: Path
) -> None:
    # `run_all(compare=...)` steps a second model's Decision on the detector's features. It
    # must pause on the very frame a detector running that model pauses on: through job
    # pause/resume resets (kind "pause") and scene changes (a light switch).
    stump = stump_model(tmp_path, "area", 0.3)
    seq = make_sequence(seed, kind)
    bundled = run_all(seq, compare=(learned.load_model(stump),))
    alone = run_all(seq, DetectorConfig(model_path=str(stump)))
    assert bundled[2] == alone[0]
    assert bundled[1] == alone[1]  # the handcrafted baseline does not depend on the model
    if kind == "detachment":
        assert alone[0].caught  # the stump pauses here: the comparison is not of two Nones


def test_the_kind_named_at_the_first_pause_is_kept_and_counted(tmp_path: Path) -> None:
    # Detachment seed 37, decided on the steady bare bed alone: the pause names a detachment
    # (what the event says); a failure not caught names nothing and is not counted.
    stump = stump_model(tmp_path, "lost_steady", 0.3)
    caught = run_sequence(make_sequence(37, "detachment"), DetectorConfig(model_path=str(stump)))
    assert caught.caught and caught.named == "detachment"
    missed = SequenceOutcome("detachment", 1, 40, 200, 200, None, None, False)
    early = SequenceOutcome("detachment", 2, 40, 200, 30, 20, 20, True, "blob")
    summary = Summary()
    summary.add([caught, missed, early])
    assert summary.named("detachment") == Counter({"detachment": 1})
    assert summary.named("blob") == Counter()
    # The pause before the onset is the one false pause, listed so it can be looked at again.
    stray = SequenceOutcome("stringing", 3, None, 200, 90, 90, 85, False, "spaghetti")
    clean = SequenceOutcome("clean", 4, None, 200, 200, None, None, False)
    summary.add([stray, clean])
    assert summary.false_paused() == [early, stray]
    assert summary.false_pauses()[0] == 2
    # The failures not caught: never paused, or paused only before the onset.
    assert summary.missed() == [missed, early]


def test_the_hotend_calibration_is_kept_and_recall_split_by_it() -> None:
    # The detector's hotend size over the rendered one, for the split of recall (a fragment of
    # the hotend calibrated leaves the blob features reading the wrong pixels).
    seq = make_sequence(1, "blob")
    outcome = run_sequence(seq)
    det = Detector()
    for frame in seq.frames():
        if frame.index >= 40:
            break
        det.process(decode(frame.jpeg, color=True)[0], now=frame.index * FRAME_INTERVAL_S)
    assert det.hotend_area is not None and outcome.calibration is not None
    assert outcome.calibration == pytest.approx(
        det.hotend_area / rendered_hotend_area(seq, WORK_WIDTH)
    )
    assert 0.75 < outcome.calibration < 1.5  # this scene calibrates well (0.98)
    fragment = run_sequence(make_sequence(0, "blob")).calibration
    assert fragment is not None and fragment < 0.5  # a fragment of the hotend (0.42)
    summary = Summary()
    summary.add([
        SequenceOutcome("blob", 1, 40, 90, 90, 50, 45, False, "blob", 0.3),
        SequenceOutcome("blob", 2, 40, 90, 90, None, None, False, None, None),  # never calibrated
        SequenceOutcome("blob", 3, 40, 90, 90, 60, 55, False, "blob", 0.9),
        SequenceOutcome("blob", 4, 40, 90, 90, None, None, False, None, 2.0),
        SequenceOutcome("spaghetti", 5, 40, 90, 90, 50, 45, False, "spaghetti", 0.9),
    ])  # fmt: skip
    assert summary.recall_by_calibration("blob") == [
        (0.0, 0.5, 1, 2), (0.5, 0.75, 0, 0), (0.75, 1.5, 1, 1), (1.5, math.inf, 0, 1)
    ]  # fmt: skip


def test_recall_is_split_by_the_filament_colour() -> None:
    # Each outcome carries its print's colour (a label); recall per colour, palette order.
    seq = make_sequence(2, "blob")
    assert run_sequence(seq).filament == filament_name(seq)
    summary = Summary()
    summary.add([
        SequenceOutcome("blob", 1, 40, 90, 90, 50, 45, False, "blob", 0.9, "black"),
        SequenceOutcome("blob", 2, 40, 90, 90, None, None, False, None, 0.9, "black"),
        SequenceOutcome("blob", 3, 40, 90, 90, 60, 55, False, "blob", 0.9, "white"),
        SequenceOutcome("blob", 4, 40, 90, 90, 30, 25, True, "blob", 0.9, "white"),  # early
        SequenceOutcome("blob", 5, 40, 90, 90, 50, 45, False, "blob", 0.9, None),  # unlabelled
        SequenceOutcome("spaghetti", 6, 40, 90, 90, 50, 45, False, "spaghetti", 0.9, "red"),
    ])  # fmt: skip
    rows = summary.recall_by_filament("blob")
    assert [name for name, _, _ in rows] == list(FILAMENT_NAMES)
    assert {name: (c, t) for name, c, t in rows if t} == {"white": (1, 2), "black": (1, 2)}


def test_detector_overrides_are_typed_as_their_fields() -> None:
    assert config_overrides([]) == {}
    assert config_overrides(
        ["size_switch=0.6", "window = 5", "size_erode=false", "model_path=m.json"]
    ) == {"size_switch": 0.6, "window": 5, "size_erode": False, "model_path": "m.json"}
    DetectorConfig(**config_overrides(["size_switch=0.6"]))  # usable as it is


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("telepathy=1", "'telepathy=1': expected NAME=VALUE with NAME one of area_ref"),
        ("size_switch", "expected NAME=VALUE"),
        ("roi=0,0", "expected NAME=VALUE"),  # a polygon is not a command-line value
        ("window=five", "window expects int, got 'five'"),
        ("size_erode=maybe", "size_erode expects bool, got 'maybe'"),
        ("window=2", "window must be 3-15 frames"),  # the config's own check
    ],
)
def test_bad_detector_overrides_name_the_problem(pair: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        config_overrides([pair])
