"""The synthetic data set: deterministic, labelled, split, rendered from parsed G-code."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from jarvis_addon.cv.synth import (
    FAILURES,
    HELDOUT_SEEDS,
    KINDS,
    ONSETS,
    TUNING_SEEDS,
    failure_visibility,
    make_sequence,
    parse_gcode,
    toolpath_gcode,
)


def digest(seed: int, kind: str, n: int = 5) -> str:
    h = hashlib.sha256()
    for i, frame in enumerate(make_sequence(seed, kind).frames()):
        if i >= n:
            break
        h.update(frame.jpeg)
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    assert digest(7, "clean") == digest(7, "clean")
    assert digest(7, "clean") != digest(8, "clean")
    assert digest(7, "clean") != digest(7, "hands")


def test_splits_are_disjoint() -> None:
    assert not set(TUNING_SEEDS) & set(HELDOUT_SEEDS)


@pytest.mark.parametrize("kind", FAILURES)
def test_failures_are_labelled_after_calibration(kind: str) -> None:
    seq = make_sequence(3, kind)
    assert seq.onset is not None and ONSETS[0] <= seq.onset < min(ONSETS[1], seq.length)
    labels = [f.failing for f in seq.frames()]
    assert not any(labels[: seq.onset]) and all(labels[seq.onset :])


def test_negatives_and_the_pause_span() -> None:
    for kind in KINDS:
        if kind in FAILURES:
            continue
        assert make_sequence(1, kind).onset is None
    seq = make_sequence(1, "pause")
    assert seq.pause_span is not None
    start, end = seq.pause_span
    frames = list(seq.frames())
    assert frames[start].event == "pause" and frames[end].event == "resume"
    assert all(f.paused for f in frames[start:end]) and not frames[end].paused


def test_sizes() -> None:
    import cv2

    for size in ((640, 480), (1280, 720)):
        frame = next(make_sequence(2, "clean", size=size).frames())
        img = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert (img.shape[1], img.shape[0]) == size


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        make_sequence(1, "warping")


def test_gcode_round_trip() -> None:
    square = np.array([[100.0, 100.0], [120.0, 100.0], [120.0, 120.0], [100.0, 120.0]])
    text = toolpath_gcode(square, layers=5, layer_h=0.2, brim=2)
    assert text.count(";LAYER:") == 5 and "G1 Z1.00" in text
    path = parse_gcode(text)
    assert path.layer_z == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    # Brim loops make the first layer's path longer and wider than the others.
    assert len(path.layer_points[0]) > len(path.layer_points[1])
    assert path.layer_points[0][:, 0].min() < 100 <= path.layer_points[1][:, 0].min()


@pytest.mark.parametrize("kind", FAILURES)
def test_failure_visibility_is_what_the_failure_changes(kind: str) -> None:
    # Against the same print had it not failed: nothing before the onset, something after,
    # growing as the failure does (a label, like the onset).
    seq = make_sequence(3, kind)
    assert seq.onset is not None
    assert failure_visibility(seq, seq.onset - 1, 320) == 0.0
    early = failure_visibility(seq, seq.onset + 2, 320)
    late = failure_visibility(seq, seq.onset + 25, 320)
    assert 0 < early <= late
    assert failure_visibility(make_sequence(3, "clean"), 100, 320) == 0.0
