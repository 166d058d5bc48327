"""The learned decision layer of the detector (pure numpy; no scikit-learn at run time).

The detector measures a vector of raw features per frame (`RAW_FEATURES`: persistent-change
areas at several thresholds and lags, the hotend's look, scene-change figures, ...).
`FeatureHistory` adds temporal aggregates (mean, max, min, slope over the last 6, 12 and 24
frames) of the ones whose trend matters (a blob's slow fall of the template correlation, a
nest's growth). A small gradient-boosted tree ensemble, trained offline on the tuning seeds by
`benchmarks/cv_train.py` and shipped as JSON (`model.json`, no pickle), turns the vector into
the probability that a failure is under way; the detector pauses when `consecutive` of the last
`window` frames are at or above `threshold` (chosen on the tuning seeds, see docs/cv.md).

A model names the features it uses (any subset of `FEATURE_NAMES`: a model trained before a
feature was added still loads). A model file that is missing, corrupt, naming a feature this
detector does not measure or trained on features measured another way (`FEATURE_VERSION`)
raises `ModelError`; the detector then falls back to its handcrafted rule and says why
(`Detector.model_error`).
"""

from __future__ import annotations

from collections import deque
from functools import cache
import json
import math
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

RAW_FEATURES: Final = (
    "area",  # persistent change (luma or chroma), in hotend areas: the handcrafted feature
    "area_luma",  # luma only, at the luma threshold
    "area_luma_low",  # luma only, at a lower threshold
    "area_chroma",  # chroma only, at the chroma threshold
    "area_chroma_low",  # chroma only, at a lower threshold
    "area_long",  # as `area`, against the background twice the lag ago
    "largest_comp",  # the largest persistent component, in hotend areas
    "n_comp",  # persistent components
    "edge_density",  # Canny edges inside the largest component (strands are textured)
    "growth",  # min over 4 frames of the moving object's size / the hotend's
    "size_now",  # this frame's moving object / the hotend's size
    "corr",  # hotend template correlation at its best match
    "lower_share",  # share of the template's lower half differing by > 30 luma levels there
    "chroma_nozzle",  # mean chroma distance from the calibrated look at the match
    "chroma_lower_share",  # share of the lower half whose chroma differs by > 12
    "frac_out",  # share of the view that changed (outside the region or overall)
    "noise",  # mean background difference outside the region (luma)
    "warm",  # frames since the features became available, capped at 24, / 24
    "gain",  # |log| of the photometric gain
    "shift",  # camera shake corrected (px)
    "hot_found",  # the template matched (corr >= hotend_match)
    "hotend_scale",  # hotend size per 1000 px of frame
    "body_luma",  # share of the hotend's own pixels (calibrated) differing by > 25 luma levels
    "body_chroma",  # share of them whose chroma differs by > 12
    "body_low",  # share of the refined hotend look's lowest 35 % of pixels that changed
    "body_high",  # the same for its upper half (a hand or a bad match changes both)
    "below",  # share of a band under the hotend differing from the background (moves with it)
    "body_low_rel",  # body_low over its level in this scene (median, newest 24 frames left out)
    "below_rel",  # below over its level in this scene
    "area_pinned",  # persistent change against the background from before it began
    "lost",  # where the part stood for 30 s and the bare bed shows now, in hotend areas
    "lost_share",  # lost over the area the part has stood on
    "lost_steady",  # lost where the bed also shows in most of the window's frames
    "lost_steady_share",  # lost_steady over the area the part has stood on
    "body_low_self",  # share of the hotend body's lower core off its upper core's colour now
    "under_moving",  # share of a band under the hotend that moved in now, as the hotend did
)
# Raw features whose trend is aggregated.
TREND_FEATURES: Final = (
    "area",
    "area_long",
    "area_luma_low",
    "area_chroma_low",
    "largest_comp",
    "growth",
    "size_now",
    "corr",
    "lower_share",
    "chroma_nozzle",
    "chroma_lower_share",
    "body_luma",
    "body_chroma",
    "body_low",
    "below",
    "body_low_rel",
    "below_rel",
    "area_pinned",
    "lost",
    "lost_steady",
)
WINDOWS: Final = (6, 12, 24)
STATS: Final = ("mean", "max", "min", "slope")
FEATURE_NAMES: Final = RAW_FEATURES + tuple(
    f"{name}_{stat}{n}" for n in WINDOWS for name in TREND_FEATURES for stat in STATS
)
MODEL_FORMAT: Final = "jarvis-cv-gbt-1"
# How the detector measures RAW_FEATURES; bumped when a measurement changes meaning (2: areas in
# a hotend unit floored at a share of the frame). A model trained on other measurements, or a
# feature cache extracted by them, is refused rather than fed values on another scale.
FEATURE_VERSION: Final = 2
MAX_WINDOW: Final = 24  # frames a pause rule may count over (48 s at one frame every 2 s)
BUNDLED_MODEL: Final = Path(__file__).with_name("model.json")

_TREND_IDX: Final = np.array([RAW_FEATURES.index(n) for n in TREND_FEATURES])
FloatArray = npt.NDArray[np.float64]


class ModelError(ValueError):
    """The model file cannot be used (missing, corrupt, another feature layout)."""


class FeatureHistory:
    """The last raw feature vectors of one detector; builds the model's input vector."""

    def __init__(self) -> None:
        """Empty: aggregates over fewer frames than a window use what there is."""
        self._rows: deque[FloatArray] = deque(maxlen=max(WINDOWS))

    def clear(self) -> None:
        """Forget (a reset of the detector)."""
        self._rows.clear()

    def push(self, raw: FloatArray) -> FloatArray:
        """Add this frame's raw features; return the full vector (raw + aggregates)."""
        if raw.shape != (len(RAW_FEATURES),):
            raise ValueError(f"expected {len(RAW_FEATURES)} raw features, got {raw.shape}")
        self._rows.append(raw.astype(np.float64))
        trend = np.array(self._rows)[:, _TREND_IDX]  # oldest first
        parts = [raw.astype(np.float64)]
        for n in WINDOWS:
            w = trend[-n:]
            k = len(w)
            if k >= 2:
                t = np.arange(k, dtype=np.float64) - (k - 1) / 2
                slope = (t @ (w - w.mean(axis=0))) / float(t @ t)
            else:
                slope = np.zeros(w.shape[1])
            # Interleaved per feature: mean, max, min, slope (FEATURE_NAMES' order).
            parts.append(np.stack([w.mean(axis=0), w.max(axis=0), w.min(axis=0), slope], 1).ravel())
        return np.concatenate(parts)


class PauseRule:
    """When the learned layer pauses (the detector's rule, also replayed offline).

    When `consecutive` of the last `window` frames (default: `consecutive`, a run) are at the
    model's `threshold`, or after `override_frames` frames with the handcrafted EWMA at
    `override_level` (0: never). With a window longer than the count, a frame dipping under the
    threshold (a detached part's evidence flickers around it) does not start the count over.
    One counter for the detector and for benchmarks/cv_train.py, which replays it on cached
    features to choose the rule: the two cannot drift apart.
    """

    def __init__(
        self,
        threshold: float,
        consecutive: int,
        override_level: float,
        override_frames: int,
        window: int | None = None,
    ) -> None:
        """Start with nothing counted."""
        self.threshold, self.consecutive = threshold, consecutive
        self.window = max(consecutive, window or consecutive)
        self.override_level, self.override_frames = override_level, override_frames
        self._recent: deque[bool] = deque(maxlen=self.window)
        self.strong = 0

    def reset(self) -> None:
        """Forget the counts (a reset of the detector)."""
        self._recent.clear()
        self.strong = 0

    def step(self, probability: float, ewma: float) -> bool:
        """Count one frame with features; True when the rule pauses on it."""
        self._recent.append(probability >= self.threshold)
        self.strong = self.strong + 1 if 0 < self.override_level <= ewma else 0
        return sum(self._recent) >= self.consecutive or self.strong >= self.override_frames


class Decision:
    """The learned layer of one detector: the model, its feature history and pause rule.

    The detector keeps one per camera (a reset makes a new one); benchmarks/cv_bench.py runs a
    second model's beside it on the same frames' features (`--compare-model`), which is why
    this is its own class rather than detector state.
    """

    def __init__(self, model: TreeModel, pause_level: float, pause_frames: int) -> None:
        """Nothing seen yet. `pause_level`/`pause_frames`: the handcrafted rule's (override)."""
        self.model = model
        self.history = FeatureHistory()
        # An overwhelming persistent change (the EWMA far above the handcrafted pause level for
        # as many frames as that rule wants) pauses whatever the trees say: they are trained
        # on a few hundred scenes and must not talk the detector out of the obvious.
        self.rule = PauseRule(
            model.threshold, model.consecutive, model.override * pause_level, pause_frames,
            model.window,
        )  # fmt: skip
        self._pause_level = pause_level
        self._last = "ok"
        self._last_p = 0.0

    def scene_change(self) -> None:
        """The view was rebuilt: the trends start over (the rule's count does not)."""
        self.history.clear()

    def step(
        self, features: tuple[float, ...] | None, scene_change: bool, ewma: float
    ) -> tuple[str, float, float | None]:
        """This frame's level ("ok", "warning", "pause"), score (1.0 = pause) and probability.

        Without features (after calibration, a reset or a scene change) it never pauses, and
        holds a warning through a scene change.
        """
        model = self.model
        if features is None:
            return (self._last if scene_change else "ok"), self._last_p / model.threshold, None
        full = self.history.push(np.asarray(features, dtype=np.float64))
        p = float(model.predict_proba(full[None, :])[0])
        if self.rule.step(p, ewma):
            level = "pause"
        elif p >= model.warn:
            level = "warning"
        else:
            level = "ok"
        self._last = "warning" if level == "pause" else level
        self._last_p = p
        score = p / model.threshold
        if model.override > 0:
            # 1.0 = pause level, whichever path gets there.
            score = max(score, ewma / (model.override * self._pause_level))
        return level, score, p


class TreeModel:
    """Gradient-boosted regression trees on log-odds: p = sigmoid(init + rate * sum(leaves))."""

    def __init__(self, spec: dict[str, Any], source: str = "model") -> None:
        """Check the spec fully (a wrong file must fail here, not mid-print)."""
        self.source = source
        if not isinstance(spec, dict):
            raise ModelError(f"{source}: expected a JSON object")
        if spec.get("format") != MODEL_FORMAT:
            raise ModelError(f"{source}: format {spec.get('format')!r}, expected {MODEL_FORMAT!r}")
        if spec.get("feature_version", 1) != FEATURE_VERSION:
            raise ModelError(
                f"{source}: trained on features measured by version"
                f" {spec.get('feature_version', 1)!r}; this detector measures version"
                f" {FEATURE_VERSION}"
            )
        # A model may use any subset of the features, named: one trained before a feature was
        # added keeps working, its trees' indices mapped onto this detector's vector.
        names = spec.get("features")
        if not isinstance(names, list) or not names:
            raise ModelError(f"{source}: no feature list")
        unknown = [n for n in names if n not in FEATURE_NAMES]
        if unknown or len(set(names)) != len(names):
            raise ModelError(
                f"{source}: its feature list does not match this detector's"
                f" ({len(unknown)} of {len(names)} features unknown or repeated,"
                f" e.g. {(unknown or names)[0]!r})"
            )
        self.features: tuple[str, ...] = tuple(names)
        self._columns = np.array([FEATURE_NAMES.index(n) for n in names], dtype=np.int64)
        try:
            self.init = float(spec["init"])
            self.rate = float(spec["learning_rate"])
            decision = spec["decision"]
            self.threshold = float(decision["threshold"])
            self.consecutive = int(decision["consecutive"])
            # Frames the count is over (absent: a run of `consecutive`).
            self.window = int(decision.get("window", self.consecutive))
            self.warn = float(decision["warn"])
            # The handcrafted EWMA level (x pause_level) that pauses regardless; 0: off.
            self.override = float(decision.get("override", 0.0))
            trees = spec["trees"]
            if not isinstance(trees, list) or not trees:
                raise ModelError(f"{source}: no trees")
            self._flatten([self._tree(t, i, len(names)) for i, t in enumerate(trees)])
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, ModelError):
                raise
            raise ModelError(f"{source}: malformed ({type(err).__name__}: {err})") from None
        if (
            not (0 < self.warn <= self.threshold < 1)
            or not 1 <= self.consecutive <= self.window <= MAX_WINDOW
            or self.override < 0
        ):
            raise ModelError(
                f"{source}: decision needs 0 < warn <= threshold < 1,"
                f" 1 <= consecutive <= window <= {MAX_WINDOW}, override >= 0"
            )
        if not all(math.isfinite(v) for v in (self.init, self.rate)):
            raise ModelError(f"{source}: init and learning_rate must be finite")

    def _flatten(self, trees: list[tuple[npt.NDArray[Any], ...]]) -> None:
        feats, thrs, lefts, rights, values, roots = [], [], [], [], [], []
        offset, depth = 0, 0
        for feature, threshold, left, right, value in trees:
            n = len(feature)
            idx = np.arange(n) + offset
            leaf = left < 0
            feats.append(np.where(leaf, 0, self._columns[np.where(leaf, 0, feature)]))
            thrs.append(np.where(leaf, 0.0, threshold))
            lefts.append(np.where(leaf, idx, left + offset))
            rights.append(np.where(leaf, idx, right + offset))
            values.append(np.where(leaf, value, 0.0))
            roots.append(offset)
            depth = max(depth, _depth(left, right))
            offset += n
        self._feature = np.concatenate(feats)
        self._threshold = np.concatenate(thrs)
        self._left = np.concatenate(lefts)
        self._right = np.concatenate(rights)
        self._value = np.concatenate(values)
        self._roots = np.array(roots, dtype=np.int64)
        self._depth = depth
        self.n_trees = len(trees)

    @staticmethod
    def _tree(t: dict[str, Any], i: int, n_feat: int) -> tuple[npt.NDArray[Any], ...]:
        feature = np.asarray(t["feature"], dtype=np.int64)
        threshold = np.asarray(t["threshold"], dtype=np.float64)
        left = np.asarray(t["left"], dtype=np.int64)
        right = np.asarray(t["right"], dtype=np.int64)
        value = np.asarray(t["value"], dtype=np.float64)
        n = len(feature)
        if n == 0 or any(len(a) != n for a in (threshold, left, right, value)):
            raise ModelError(f"tree {i}: arrays of different lengths")
        leaf = left < 0
        inner = ~leaf
        if (
            np.any(left[inner] <= np.flatnonzero(inner))  # children come after their parent
            or np.any(right[inner] <= np.flatnonzero(inner))
            or np.any(left[inner] >= n)
            or np.any(right[inner] >= n)
            or np.any((feature[inner] < 0) | (feature[inner] >= n_feat))
            or not np.all(np.isfinite(threshold[inner]))
            or not np.all(np.isfinite(value[leaf]))
        ):
            raise ModelError(f"tree {i}: invalid node indices, features or values")
        return feature, threshold, left, right, value

    def decision_function(self, x: FloatArray) -> FloatArray:
        """Log-odds for rows of full feature vectors (n, features) -> (n,)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        # Every tree at once: one node per (row, tree), stepped down `depth` times (a leaf
        # points at itself), so a frame costs a few vectorised steps, not a Python tree walk.
        node = np.broadcast_to(self._roots, (len(x), len(self._roots)))
        rows = np.arange(len(x))[:, None]
        for _ in range(self._depth):
            go_left = x[rows, self._feature[node]] <= self._threshold[node]
            node = np.where(go_left, self._left[node], self._right[node])
        out: FloatArray = self.init + self.rate * self._value[node].sum(axis=1)
        return out

    def predict_proba(self, x: FloatArray) -> FloatArray:
        """Probability of a failure under way, per row."""
        out: FloatArray = 1.0 / (1.0 + np.exp(-self.decision_function(x)))
        return out


def _depth(left: npt.NDArray[Any], right: npt.NDArray[Any]) -> int:
    """Edges on the longest root-to-leaf path (children come after parents: one pass back)."""
    d = np.zeros(len(left), dtype=np.int64)
    for i in range(len(left) - 1, -1, -1):
        if left[i] >= 0:
            d[i] = 1 + max(d[left[i]], d[right[i]])
    return int(d[0])


def load_model(path: Path | str | None = None) -> TreeModel:
    """The model at `path` (the bundled model.json by default); ModelError when unusable."""
    return _load(str(path or BUNDLED_MODEL))


@cache
def _load(path: str) -> TreeModel:
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"{path}: unreadable ({err})") from None
    return TreeModel(spec, source=path)
