"""cv/evaluate.py: the nearest-rank percentile the benchmark and the trainer both report."""

from __future__ import annotations

import math

from jarvis_addon.cv.evaluate import percentile


def test_percentile_is_nearest_rank_and_nan_when_empty() -> None:
    assert percentile([30.0, 10.0, 20.0], 50) == 20.0  # sorted first
    assert percentile([float(v) for v in range(1, 11)], 90) == 9.0  # ceil(0.9 * 10) = 9th
    assert percentile([float(v) for v in range(1, 12)], 90) == 10.0  # ceil(9.9) = 10th
    assert percentile([5.0], 90) == 5.0
    assert percentile([1.0, 2.0], 0) == 1.0
    assert math.isnan(percentile([], 90))
