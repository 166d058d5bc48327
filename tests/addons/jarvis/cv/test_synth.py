"""The synthetic data set: deterministic, labelled, split, rendered from parsed G-code."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from jarvis_addon.cv.synth import (
    _FILAMENTS,
    FAILURES,
    FILAMENT_NAMES,
    HELDOUT_SEEDS,
    KINDS,
    ONSETS,
    TUNING_SEEDS,
    _Scene,
    failure_visibility,
    filament_name,
    hotend_boxes,
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


def test_filament_name_is_the_colour_the_part_is_drawn_in() -> None:
    # A label like the onset: the named colour, which each print varies a little (about 10
    # levels per channel), is the nearest of the palette to the colour the part is drawn in.
    names = []
    for seed in range(40):
        seq = make_sequence(seed, "clean")
        drawn = _Scene(seq).filament
        name = filament_name(seq)
        nearest = int(np.argmin([np.abs(drawn - np.array(c)).sum() for c in _FILAMENTS]))
        assert name == FILAMENT_NAMES[nearest] == filament_name(seq)
        assert np.abs(drawn - np.array(_FILAMENTS[nearest])).max() < 45
        names.append(name)
    assert set(names) == set(FILAMENT_NAMES)  # every colour is drawn
    assert len(FILAMENT_NAMES) == len(_FILAMENTS)


@pytest.mark.parametrize(("seed", "kind"), [(2, "spaghetti"), (4, "clean"), (6, "pause")])
def test_hotend_boxes_hold_the_rendered_hotend(seed: int, kind: str) -> None:
    # The label is where the renderer draws the hotend: every pixel the hotend changes (the
    # frame against the same frame without it, shake and its cable left out as the label
    # leaves them out) lies in the box, and they reach its four sides.
    seq = make_sequence(seed, kind)
    boxes = hotend_boxes(seq, 640)
    scene = _Scene(seq)
    scene.shake[:] = 0.0
    scene.moving_cable = False
    bare = _Scene(seq)
    bare.shake[:] = 0.0
    bare._hotend = lambda *_args: None  # type: ignore[method-assign]
    frames = [60, seq.onset + 20] if seq.onset is not None else [60]
    if seq.pause_span is not None:
        frames.append(seq.pause_span[0] + 5)  # parked, away from the part
    for i in frames:
        diff = np.max(np.abs(scene.render(i).astype(int) - bare.render(i).astype(int)), axis=2)
        ys, xs = np.nonzero(diff > 8)
        x0, y0, x1, y1 = boxes[i]
        assert len(xs) > 100
        assert x0 - 2 <= xs.min() <= x0 + 2 and x1 - 2 <= xs.max() <= x1 + 2, (i, boxes[i])
        assert y0 - 2 <= ys.min() <= y0 + 2 and y1 - 2 <= ys.max() <= y1 + 2, (i, boxes[i])
    # At another width the same box, scaled.
    np.testing.assert_allclose(hotend_boxes(seq, 320), boxes / 2)
    if seq.pause_span is not None:
        start, end = seq.pause_span
        assert np.abs(boxes[start + 1] - boxes[start - 1]).max() > 20  # parked
        assert np.abs(boxes[end] - boxes[end - 1]).max() > 20  # and back on the part
