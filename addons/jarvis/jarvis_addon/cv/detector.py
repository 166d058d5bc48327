"""Print-failure detector: a classical OpenCV pipeline on small colour frames (pure).

No HA, no network; the learned decision is a small tree ensemble read from JSON (learned.py).
Per frame (about 320 px wide, BGR or grey, see frames.py;
luma runs the pipeline, chroma follows it through the background for step 3):

1. Photometric match: mean/std outside the print region matched to the current background, so
   slow light drift and exposure changes cancel; phase correlation undoes camera shake.
2. Background: the per-pixel median of the last `window` frames. The hotend is found by template
   matching (its look is taken during calibration) and kept out of the frames that enter the
   median; a hand stays 1-3 frames, so it drops out too. Plastic that stays is in it.
3. Persistent change: the current background against the background `lag` frames ago (about
   30 s), in luma or chroma, where every frame of the window differs from the old background
   (not only their median), on pixels that have not flickered within the window. Normal growth
   changes little in that time; spaghetti, a detached or vanished part change a lot. Opened
   against noise, closed so a tangle of strands counts as its area, measured in hotend areas
   (the scene's own scale, at least `unit_floor` of the frame); `area_ref` of them score 1.0.
4. Blob: the largest object that differs from the background (the hotend) grown beyond its
   measured size, as the minimum over the last 4 frames (a passing hand is shorter).
5. A change over much of the view outside the print region is a light switch or a bumped
   camera: the history is rebuilt and the score held.
6. Decision, `decision="learned"` (default): per-frame features (learned.RAW_FEATURES) and their
   trends into the tree model (learned.py), pause when `consecutive` of its last `window`
   frames are at its `threshold` or when the EWMA below holds its `override` level; falls back
   to the handcrafted rule when the model cannot be loaded (`model_error`).
   `decision="handcrafted"`: an EWMA of the larger score; warning at `warn_level`; pause after
   `pause_frames` consecutive frames at `pause_level`, or when the raw score holds
   `sustain_level` on average over `sustain_frames`.

The print region is calibrated from where things change during the first `calibration_frames`
(the hotend laying down the first layers), or given as a polygon.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
import math
from typing import Final

import cv2
from cv2.typing import MatLike
import numpy as np
import numpy.typing as npt

from . import learned

# OpenCV's own array type (what its stubs accept and return).
Gray = MatLike
Mask = MatLike
_F32 = MatLike

KIND_SPAGHETTI: Final = "spaghetti"
KIND_DETACHMENT: Final = "detachment"
KIND_BLOB: Final = "blob"
# How the learned layer's pause is named (Detector._name), from its raw features. Chosen on the
# tuning seeds' frames 5-40 after the onset (docs/cv.md, the tenth pass): this much
# steady bare bed where the part stood (hotend areas) is a detachment; under this much change
# over the long reference, a blob at the hotend; this many changed regions, or this share of
# edges in the largest, spaghetti; any other solid change, a detachment.
LOST_KIND: Final = 0.1
BLOB_AREA: Final = 0.2
SPAGHETTI_REGIONS: Final = 3
SPAGHETTI_EDGES: Final = 0.2
_LOST_STEADY, _AREA_LONG, _N_COMP, _EDGES = (
    learned.RAW_FEATURES.index(n) for n in ("lost_steady", "area_long", "n_comp", "edge_density")
)


class Level(StrEnum):
    """What the detector concludes for a frame."""

    CALIBRATING = "calibrating"
    OK = "ok"
    WARNING = "warning"
    PAUSE = "pause"


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Tunable constants (tuned on synth.TUNING_SEEDS only)."""

    calibration_frames: int = 15
    window: int = 7  # frames in the median background
    lag: int = 15  # frames between the two backgrounds compared
    diff_threshold: float = 18.0  # frame vs background (the hotend, hands, new plastic)
    # A dark hotend over a dark bed differs from it by less than diff_threshold: calibrating,
    # only its nozzle registers. When the hotend measured so is under size_switch of what the
    # change smoothed over size_blur px and thresholded at size_threshold shows, the hotend's
    # size and look are measured on that instead (0: never). See docs/cv.md, twelfth pass.
    size_switch: float = 0.0
    size_threshold: float = 6.0
    size_blur: int = 3
    size_erode: bool = True
    # Persistent change is thresholded at max(change_floor, change_k * noise), the noise being
    # that of the two backgrounds' difference outside the print region (change_k = 0: a fixed
    # change_floor). See docs/cv.md: a lower, noise-following threshold is the fix for
    # low-contrast filament that tuning has not yet made pay off.
    change_floor: float = 18.0
    change_k: float = 0.0
    # Colour input: persistent change in chroma (JPEG's Cr/Cb, 128 = grey) counts too, at this
    # threshold; 0 ignores colour.
    chroma_threshold: float = 10.0
    chroma_settled: float = 0.0
    full_window_refs: bool = True
    persist_all: bool = True
    # Once persistent change appears (area score >= pin_level) the reference stops sliding for
    # up to pin_frames, so a failure keeps counting against the view from before it began
    # (a detached part or a nest of spaghetti otherwise fades into the 30-s-old background).
    pin_level: float = 0.15
    pin_frames: int = 0  # off: see docs/cv.md (pinning let growth accumulate into false pauses)
    unpin_level: float = 0.05
    hotend_match: float = 0.5  # template correlation that counts as the hotend
    # Where the hotend is, its look's correlation weighs this share less and how much the frame
    # differs from both frames before it there this share (0: its look alone). A dark
    # hotend's look alone matches any dark patch by a bright edge (the hotend's template holds
    # what it was over), about one frame in four; what moves is the hotend. On since the
    # sixteenth pass: the bundled model (L) was trained on the features it gives (docs/cv.md).
    track: float = 0.5
    settled_range: float = 40.0  # max - min within the window above which a pixel is unsettled
    area_ref: float = 0.8  # persistent change, in hotend areas, that scores 1.0
    # The hotend area (every area's unit) is at least this share of the frame: a dark hotend
    # over a dark bed shows only its nozzle when calibrating (9 px, not ~900), which made every
    # area up to 80x too large. 0.005 is below the smallest hotend the synthetic cameras show (1st
    # percentile 0.0057 of the frame); see docs/cv.md, fifth pass.
    unit_floor: float = 0.005
    blob_ratio: float = 3.0  # hotend size multiple that scores 1.0
    # The "lost" feature: a pixel that differed from the bed around it (estimated locally, the
    # part left out) by 2x these for lost_frames (luma, chroma) has been part; when it is within
    # them again the bare bed shows there: the part was dragged off or fell.
    bed_tolerance: float = 12.0
    bed_chroma_tolerance: float = 7.0
    lost_frames: int = 15
    # "lost_steady" also wants the bare bed in this share of the window's frames: the dark
    # hotend in front of a part can pass for bed in the median and in one frame, not in most.
    lost_steady: float = 0.8
    ewma: float = 0.5
    warn_level: float = 0.5
    pause_level: float = 1.0
    pause_frames: int = 4
    # Or: the raw score (capped at sustain_cap, so one spike cannot carry it) averages
    # sustain_level over sustain_frames (24 s); both are fractions of pause_level. A detached part's evidence often holds at
    # 0.6-0.9 for about that long and then fades as the old background catches up.
    sustain_frames: int = 12
    sustain_level: float = 0.75
    sustain_cap: float = 1.5
    global_change: float = 0.2
    roi_margin: float = 0.04  # of the frame width, around the calibrated region
    # Which rule pauses: "learned" (the tree model of learned.py on this frame's features and
    # their recent trend; falls back to "handcrafted" when the model cannot be loaded) or
    # "handcrafted" (the EWMA / sustained-score rule above).
    decision: str = "learned"
    model_path: str | None = None  # None: the bundled cv/model.json
    # A configured print region: polygon in 0..1 frame coordinates (overrides calibration).
    roi: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        """Reject settings that cannot work, naming the field."""
        if self.calibration_frames < 2:
            raise ValueError("calibration_frames must be at least 2")
        if not 3 <= self.window <= 15:
            raise ValueError("window must be 3-15 frames")
        if self.lag < 1:
            raise ValueError("lag must be at least 1 frame")
        if not 0 < self.warn_level <= self.pause_level:
            raise ValueError("warn_level must be > 0 and <= pause_level")
        if not 0 <= self.size_switch <= 1:
            raise ValueError("size_switch must be a share in 0..1 (0: off)")
        if self.size_threshold <= 0 or not 0 <= self.size_blur <= 15:
            raise ValueError("size_threshold must be > 0 and size_blur 0-15 px")
        if not 0 <= self.track <= 1:
            raise ValueError("track must be a share in 0..1 (0: off)")
        if not 0 <= self.unit_floor < 0.1:
            raise ValueError("unit_floor must be a share of the frame in 0..0.1")
        if self.decision not in ("learned", "handcrafted"):
            raise ValueError("decision must be 'learned' or 'handcrafted'")
        if self.roi is not None:
            if len(self.roi) < 3:
                raise ValueError("roi needs at least 3 points")
            if any(not (0 <= x <= 1 and 0 <= y <= 1) for x, y in self.roi):
                raise ValueError("roi points must be within 0..1")


@dataclass(frozen=True, slots=True)
class Detection:
    """Result for one frame. Boxes and the region are in 0..1 frame coordinates."""

    level: Level
    score: float  # smoothed, 1.0 = pause level
    raw: float
    kind: str | None
    box: tuple[float, float, float, float] | None  # x0, y0, x1, y1
    region: tuple[tuple[float, float], ...] | None
    scene_change: bool = False
    snoozed: bool = False
    area: float = 0.0  # persistent change in hotend areas (raw feature)
    growth: float = 0.0  # hotend size / calibrated size (raw feature)
    ewma: float = 0.0  # the handcrafted rule's smoothed score (the learned layer's override)
    # The learned layer's view: this frame's raw features (learned.RAW_FEATURES; None while
    # they are not available yet), the model's probability, and what the handcrafted rule
    # concluded (the baseline, whichever rule decides).
    features: tuple[float, ...] | None = None
    probability: float | None = None
    handcrafted: Level | None = None


@dataclass(slots=True)
class _State:
    ref: _F32 | None = None  # the current background (median of the window)
    frames: deque[Gray] = field(default_factory=deque)
    backgrounds: deque[Gray] = field(default_factory=deque)
    # Chroma (two channels, Cr and Cb) of the same frames and backgrounds, for colour input.
    cref: _F32 | None = None
    cframes: deque[MatLike] = field(default_factory=deque)
    cbackgrounds: deque[MatLike] = field(default_factory=deque)
    # Where the hotend was replaced by the background in each frame (the newest last).
    boxes: deque[tuple[int, int, int, int] | None] = field(default_factory=lambda: deque(maxlen=15))
    activity: Gray | None = None  # frames since the pixel last flickered (counts down)
    calib_crops: list[tuple[int, Gray, MatLike | None, Mask, tuple[int, int, int, int]]] = field(
        default_factory=list
    )
    template: Gray | None = None  # the hotend's look, from calibration
    ctemplate: MatLike | None = None  # its chroma
    body: npt.NDArray[np.bool_] | None = None  # the template's pixels that are the hotend
    post_sizes: list[int] = field(default_factory=list)
    template_small: Gray | None = None
    # The last frames as seen (aligned, the hotend in them; this frame's last once it is
    # appended): `track` and `under_moving` compare a frame with the two before it.
    seen_last: deque[tuple[Gray, MatLike | None]] = field(default_factory=lambda: deque(maxlen=3))
    shape: tuple[int, int] | None = None
    seen: int = 0
    calib_acc: Mask | None = None
    calib_sizes: list[int] = field(default_factory=list)
    # The same from the low-threshold change (size_switch), and whether it is used.
    fine_crops: list[tuple[int, Gray, MatLike | None, Mask, tuple[int, int, int, int]]] = field(
        default_factory=list
    )
    fine: bool = False
    hotend_size: float = 0.0
    roi: Mask | None = None
    roi_poly: MatLike | None = None
    region: tuple[tuple[float, float], ...] | None = None  # roi_poly in 0..1, built once
    sizes: deque[int] = field(default_factory=lambda: deque(maxlen=4))
    ewma: float = 0.0
    above: int = 0
    recent: deque[float] = field(default_factory=deque)  # capped raw scores, newest last
    pinned: tuple[Gray, MatLike | None] | None = None
    pin_age: int = 0
    quiet: int = 0
    decision: learned.Decision | None = None  # the learned layer (made at its first frame)
    ready: int = 0  # frames with features since the last reset
    # The hotend's look refined after calibration, once the background is hotend-free: crops
    # at its matches (luma, chroma, what differs from the background there), then its pixels
    # (those that differ in most matches) with their median luma and chroma.
    look_crops: list[tuple[Gray, MatLike | None, npt.NDArray[np.bool_]]] = field(
        default_factory=list
    )
    look: tuple[Gray, MatLike | None, npt.NDArray[np.bool_]] | None = None
    look_done: bool = False
    # body_low and below per frame since the look was built: their scene's own level (what
    # this hotend over this part usually shows) is the median of all but the newest 24.
    blob_hist: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=150))
    post_frames: int = 0
    # The learned layer's pinned reference (the background from before a persistent change
    # began), so a detached part keeps counting after the sliding reference has caught up.
    fpin: tuple[Gray, MatLike | None] | None = None
    fpin_age: int = 0
    fpin_quiet: int = 0
    # Frames each pixel has differed from the bed around it (capped at 255), and last frame's
    # such pixels (left out of the next bed estimate).
    part_count: Gray | None = None
    part_now: Mask | None = None
    lost_box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 of the steady bare bed


class Detector:
    """One camera's detector. Call `process` per frame; `reset` on pause/resume; `snooze`."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        """Start uncalibrated."""
        self.config = config or DetectorConfig()
        self._s = _State()
        self._snooze_until = 0.0
        self._last_now = 0.0
        self._gain = 1.0
        self._shift = (0.0, 0.0)
        self._k2 = cv2.getStructuringElement(cv2.MORPH_RECT, (2, 2))
        self._k3 = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        self._k5 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self._match: tuple[float, int, int] = (0.0, 0, 0)  # best template score, x, y
        self.model: learned.TreeModel | None = None
        self.model_error: str | None = None  # why the learned rule is not in use
        if self.config.decision == "learned":
            try:
                self.model = learned.load_model(self.config.model_path)
            except learned.ModelError as err:
                self.model_error = f"{err}; using the handcrafted rule"

    @property
    def calibrated(self) -> bool:
        """Whether the print region is known."""
        return self._s.roi is not None

    @property
    def hotend_area(self) -> float | None:
        """The hotend's calibrated size in pixels (None until calibrated)."""
        return self._s.hotend_size if self.calibrated else None

    @property
    def hotend_match(self) -> tuple[float, tuple[int, int, int, int]] | None:
        """The last frame's best hotend match: correlation and box (x0, y0, x1, y1), work px.

        None before the hotend has a template. The best match, whatever its correlation.
        """
        tmpl = self._s.template
        if tmpl is None:
            return None
        corr, x, y = self._match
        th, tw = tmpl.shape[:2]
        return corr, (x, y, x + tw, y + th)

    @property
    def area_unit(self) -> float | None:
        """Pixels per hotend area, every area's unit: the hotend, floored (None until calibrated)."""
        shape = self._s.shape
        return self._unit(shape) if self.calibrated and shape is not None else None

    def reset(self, *, keep_region: bool = True) -> None:
        """Forget the reference and the smoothing (after a pause/resume or a new job).

        The print region survives a pause (the part has not moved); a new job recalibrates.
        """
        old = self._s
        self._s = _State()
        if keep_region and old.roi is not None:
            self._s.roi, self._s.roi_poly, self._s.region = old.roi, old.roi_poly, old.region
            self._s.hotend_size, self._s.shape = old.hotend_size, old.shape
            self._s.fine = old.fine
            self._s.template, self._s.post_sizes = old.template, old.post_sizes
            self._s.ctemplate, self._s.body = old.ctemplate, old.body
            self._s.look, self._s.look_done = old.look, old.look_done
            self._s.blob_hist = old.blob_hist

    def snooze(self, until: float) -> None:
        """No warning or pause before monotonic time `until` (scores are still computed)."""
        self._snooze_until = until

    def process(self, frame: Gray, now: float = 0.0) -> Detection:
        """Score one frame (grayscale or BGR, any size; a new size restarts calibration)."""
        cfg = self.config
        self._last_now = now
        if frame.size == 0 or not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
            raise ValueError("expected a non-empty grayscale or BGR frame")
        chroma: MatLike | None = None
        if frame.ndim == 3:
            # Colour: luma runs the pipeline; chroma adds persistent change that luma misses
            # (filament of the bed's brightness in another colour).
            ycc = cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb)
            frame = ycc[:, :, 0].copy()
            chroma = ycc[:, :, 1:].astype(np.float32) if cfg.chroma_threshold > 0 else None
        shape = (int(frame.shape[0]), int(frame.shape[1]))
        if self._s.shape is not None and self._s.shape != shape:
            self.reset(keep_region=False)
        s = self._s
        s.shape = shape
        if chroma is None:
            s.cref = None
            s.cframes.clear()
            s.cbackgrounds.clear()
        if s.ref is None:
            s.ref = frame.astype(np.float32)
            s.calib_acc = np.zeros(shape, np.uint8)
            s.frames.append(frame)
            if cfg.roi is not None and s.roi is None:
                self._set_configured_roi(shape)
            return self._result(Level.CALIBRATING, 0.0, None, None)

        outside = None if s.roi is None else cv2.bitwise_not(s.roi)
        g = self._match_photometry(frame.astype(np.float32), s.ref, outside)
        g = self._align(g, s.ref)
        g8 = np.clip(g, 0, 255).astype(np.uint8)
        c8: MatLike | None = None
        if chroma is not None:
            # The luma's gain applies to the colour difference; the same shake correction.
            chroma = (chroma - np.float32(128)) * np.float32(self._gain) + np.float32(128)
            chroma = self._align(chroma, s.ref, self._shift)
            c8 = np.clip(chroma, 0, 255).astype(np.uint8)
            if s.cref is None:
                s.cref = chroma
        changed = self._change_mask(g, s.ref)  # vs the background: the hotend, hands, new stuff

        # A light switch or a bumped camera changes the whole view: rebuild, hold the score.
        if outside is not None:
            frac_out = cv2.countNonZero(cv2.bitwise_and(changed, outside)) / max(
                1, cv2.countNonZero(outside)
            )
        else:
            frac_out = 0.0
        # Outside the region, or across the whole view (an uneven light change reaches both).
        frac_out = max(frac_out, cv2.countNonZero(changed) / changed.size)
        if frac_out > cfg.global_change and len(s.frames) >= 3:
            s.ref = g
            s.frames.clear()
            s.backgrounds.clear()
            s.sizes.clear()
            s.frames.append(g8)
            s.boxes.append(None)
            s.cframes.clear()
            s.cbackgrounds.clear()
            s.cref = chroma
            s.pinned = None
            s.fpin = None
            s.part_count = s.part_now = None  # a bumped camera moves the part in the view
            if s.decision is not None:
                s.decision.scene_change()
            s.ready = 0
            if c8 is not None:
                s.cframes.append(c8)
            return self._result(self._level_for(s.ewma, now), 0.0, None, None, scene_change=True)

        opened = cv2.morphologyEx(changed, cv2.MORPH_OPEN, self._k3)
        fine: Mask | None = None
        if cfg.size_switch > 0 and (s.roi is None or s.fine):
            fine = self._size_mask(g, s.ref)
        sized = fine if s.fine and fine is not None else opened
        largest, largest_box = _largest_component(sized)
        # Keep the hotend out of the background: where its template matches, the frame enters
        # the median with the background's pixels instead (it hovers over small parts, so the
        # median alone would keep it).
        stacked = g8
        hot = self._find_hotend(g8, c8)
        s.seen_last.append((g8, c8))
        if hot is not None:
            x0, y0, x1, y1 = hot
            stacked = g8.copy()
            stacked[y0:y1, x0:x1] = np.clip(s.ref[y0:y1, x0:x1], 0, 255).astype(np.uint8)
        s.frames.append(stacked)
        s.boxes.append(hot)
        while len(s.frames) > cfg.window:
            s.frames.popleft()
        bg, spread = _median_and_spread(s.frames)
        s.ref = bg.astype(np.float32)
        cbg: MatLike | None = None
        if c8 is not None and s.cref is not None:
            cstacked = c8
            if hot is not None:
                x0, y0, x1, y1 = hot
                cstacked = c8.copy()
                cstacked[y0:y1, x0:x1] = np.clip(s.cref[y0:y1, x0:x1], 0, 255).astype(np.uint8)
            s.cframes.append(cstacked)
            while len(s.cframes) > cfg.window:
                s.cframes.popleft()
            cbg, cspread = _median_and_spread(s.cframes)
            s.cref = cbg.astype(np.float32)
            if cfg.chroma_settled > 0:
                # Chroma flicker (the hotend passing over coloured plastic) marks a pixel as
                # unsettled like luma flicker does, at chroma's own (smaller) scale.
                unsettled = _channel_max(cspread) > cfg.chroma_settled
                spread = spread.copy()
                spread[unsettled] = 255

        if s.roi is None:
            s.seen += 1
            if s.calib_acc is None:
                s.calib_acc = np.zeros(shape, np.uint8)
            cv2.bitwise_or(s.calib_acc, opened, s.calib_acc)
            if largest and largest_box is not None:
                s.calib_sizes.append(largest)
                s.calib_crops.append((largest, g8, c8, sized, largest_box))
            if fine is not None:
                fsize, fbox = _largest_component(fine)
                if fsize and fbox is not None:
                    s.fine_crops.append((fsize, g8, c8, fine, fbox))
            if s.seen >= cfg.calibration_frames:
                self._calibrate(shape)
                s.frames.clear()
                s.frames.append(stacked)
                if s.cframes:
                    last = s.cframes[-1]
                    s.cframes.clear()
                    s.cframes.append(last)
            return self._result(Level.CALIBRATING, 0.0, None, None)

        s.sizes.append(largest)
        if s.template is not None and not s.look_done:
            self._collect_look(g8, c8, bg, cbg)
        if s.template is not None and len(s.post_sizes) < 10:
            # With the hotend kept out of the background it shows whole: measure it again.
            s.post_sizes.append(largest)
            if len(s.post_sizes) == 10:
                s.hotend_size = float(np.median(s.post_sizes)) or s.hotend_size
        # A background of fewer frames than the window may still hold the hotend: not a reference.
        if len(s.frames) >= cfg.window or not cfg.full_window_refs:
            s.backgrounds.append(bg)
            if cbg is not None:
                s.cbackgrounds.append(cbg)
        if s.activity is None:
            s.activity = np.zeros(shape, np.uint8)
        np.subtract(s.activity, 1, out=s.activity, where=s.activity > 0)
        # Shorter than the lag: a change that appeared at once (a detached part) is counted
        # once it has settled, while the old background still lacks it.
        s.activity[spread > cfg.settled_range] = cfg.window
        if len(s.backgrounds) <= cfg.lag or len(s.frames) < cfg.window:
            self._trim_backgrounds()
            return self._result(self._level_for(s.ewma, now), 0.0, None, None)
        self._trim_backgrounds()
        lag = cfg.lag + 1
        old = s.backgrounds[-lag]
        cold = s.cbackgrounds[-lag] if len(s.cbackgrounds) >= lag else None
        if s.pinned is not None:
            old, cold = s.pinned
        ldiff = self._persist_diff(bg, old, s.frames)
        thr = cfg.change_floor
        if cfg.change_k > 0 and outside is not None:
            thr = max(thr, cfg.change_k * 1.25 * float(cv2.mean(ldiff, mask=outside)[0]))
        cdiff = None
        if cbg is not None and cold is not None and len(s.cbackgrounds) == len(s.backgrounds):
            cdiff = self._persist_diff(cbg, cold, s.cframes)
        closed = self._persistent(ldiff, thr, cdiff, cfg.chroma_threshold)
        # Relative to the hotend's size: the scale of the scene, whatever the part's size.
        unit = self._unit(shape)
        area = cv2.countNonZero(closed) / unit
        area_score = area / cfg.area_ref
        self._update_pin(area_score)
        blob_score = grown = 0.0
        if (
            s.hotend_size > 0
            and len(s.sizes) == s.sizes.maxlen
            and (s.template is None or len(s.post_sizes) >= 10)
        ):
            grown = min(s.sizes) / s.hotend_size
            blob_score = max(0.0, (grown - 1.0) / (cfg.blob_ratio - 1.0))
        raw = max(area_score, blob_score)
        kind: str | None = None
        box: tuple[int, int, int, int] | None = None
        density = 0.0
        want_features = cfg.decision == "learned"  # also measured when the model failed to load
        if raw >= cfg.warn_level * 0.5 or want_features:
            if blob_score > area_score:
                kind, box = KIND_BLOB, largest_box
            else:
                kind, box, density = self._classify(closed, g)
        s.ewma += cfg.ewma * (raw - s.ewma)
        if s.ewma >= cfg.pause_level:
            s.above += 1
        else:
            s.above = 0
        feats = None
        if want_features:
            feats = self._features(
                g8, c8, bg, cbg, ldiff, cdiff, closed, area, grown, largest, density, outside,
                frac_out,
            )  # fmt: skip
            if self.model is not None:
                kind, box = self._name(feats, box, hot or largest_box)
        return self._result(
            self._level_for(s.ewma, now),
            raw,
            kind,
            box,
            area=area,
            growth=grown,
            features=feats,
        )

    # --- features (for the learned decision) -----------------------------------------------

    def _persist_diff(self, bg: MatLike, old: MatLike, frames: deque[MatLike]) -> MatLike:
        """Background now vs `old` (the largest channel), as small as any frame's distance."""
        diff = cv2.absdiff(bg, old)
        if diff.ndim == 3:
            diff = _channel_max(diff)
        if self.config.persist_all:
            # Changed in every frame of the window, not only in their median: a hotend hovering
            # over a small part sits in most frames (and so in the median) but not in all.
            diff = _min_distance(frames, self._boxes(), old, diff)
        return diff

    def _persistent(self, ldiff: MatLike, lthr: float, cdiff: MatLike | None, cthr: float) -> Mask:
        """Thresholded (luma and/or chroma), in the region, settled, opened and closed."""
        s = self._s
        persistent: Mask
        if lthr > 0:
            _, persistent = cv2.threshold(ldiff, lthr, 255, cv2.THRESH_BINARY)
        else:
            persistent = np.zeros(ldiff.shape, np.uint8)
        if cdiff is not None and cthr > 0:
            _, cpersistent = cv2.threshold(cdiff, cthr, 255, cv2.THRESH_BINARY)
            persistent = cv2.bitwise_or(persistent, cpersistent)
        if s.roi is not None:
            cv2.bitwise_and(persistent, s.roi, persistent)
        if s.activity is not None:
            # Pixels that flickered within the window (the hotend passing) do not count yet.
            persistent[s.activity > 0] = 0
        persistent = cv2.morphologyEx(persistent, cv2.MORPH_OPEN, self._k2)
        closed: Mask = cv2.morphologyEx(persistent, cv2.MORPH_CLOSE, self._k5)
        return closed

    def _features(  # noqa: PLR0917 - one call site, every input is this frame's
        self,
        g8: Gray,
        c8: MatLike | None,
        bg: Gray,
        cbg: MatLike | None,
        ldiff: MatLike,
        cdiff: MatLike | None,
        closed: Mask,
        area: float,
        grown: float,
        largest: int,
        density: float,
        outside: Mask | None,
        frac_out: float,
    ) -> tuple[float, ...]:
        """This frame's raw features, in learned.RAW_FEATURES' order."""
        s, cfg = self._s, self.config
        unit = self._unit((int(g8.shape[0]), int(g8.shape[1])))

        def count(ld: MatLike, lthr: float, cd: MatLike | None, cthr: float) -> float:
            return cv2.countNonZero(self._persistent(ld, lthr, cd, cthr)) / unit

        area_luma = count(ldiff, cfg.change_floor, None, 0.0)
        area_luma_low = count(ldiff, 10.0, None, 0.0)
        area_chroma = count(ldiff, 0.0, cdiff, cfg.chroma_threshold) if cdiff is not None else 0.0
        area_chroma_low = count(ldiff, 0.0, cdiff, 6.0) if cdiff is not None else 0.0
        area_long = area
        if len(s.backgrounds) == 2 * cfg.lag + 1:
            # Against the background twice as old: a detached part has not faded into it yet.
            lold = self._persist_diff(bg, s.backgrounds[0], s.frames)
            clong = None
            if cbg is not None and cdiff is not None and len(s.cbackgrounds) == len(s.backgrounds):
                clong = self._persist_diff(cbg, s.cbackgrounds[0], s.cframes)
            area_long = count(lold, cfg.change_floor, clong, cfg.chroma_threshold)
        area_pinned = self._pinned_area(area / cfg.area_ref, bg, cbg, cdiff is not None, count)
        n, _labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
        largest_comp = float(stats[1:, cv2.CC_STAT_AREA].max()) / unit if n > 1 else 0.0
        # The hotend's look at its best match: a blob changes its lower half.
        corr, mx, my = self._match
        lower_share = chroma_nozzle = chroma_lower = body_luma = body_chroma = 0.0
        tmpl = s.template
        if tmpl is not None:
            th, tw = tmpl.shape[:2]
            crop = g8[my : my + th, mx : mx + tw]
            if crop.shape == tmpl.shape:
                half = th // 2
                lower = cv2.absdiff(crop[half:], tmpl[half:])
                lower_share = float(np.count_nonzero(lower > 30)) / max(1, lower.size)
                if c8 is not None and s.ctemplate is not None:
                    ccrop = c8[my : my + th, mx : mx + tw].astype(np.float32)
                    cd = _channel_max(cv2.absdiff(ccrop, s.ctemplate))
                    chroma_nozzle = float(cd.mean())
                    chroma_lower = float(np.count_nonzero(cd[half:] > 12)) / max(1, cd[half:].size)
                    if s.body is not None and s.body.any():
                        # The hotend's own pixels: a blob over the body recolours them, while
                        # the background around them changes with every move.
                        body_chroma = np.count_nonzero(cd[s.body] > 12) / int(s.body.sum())
                if s.body is not None and s.body.any():
                    full = cv2.absdiff(crop, tmpl)
                    body_luma = np.count_nonzero(full[s.body] > 25) / int(s.body.sum())
        noise = float(cv2.mean(ldiff, mask=outside)[0]) if outside is not None else 0.0
        h, w = g8.shape[:2]
        shift = float(np.hypot(*self._shift))
        return (
            area,
            area_luma,
            area_luma_low,
            area_chroma,
            area_chroma_low,
            area_long,
            largest_comp,
            float(max(0, n - 1)),
            density,
            grown,
            largest / unit,
            corr,
            lower_share,
            chroma_nozzle,
            chroma_lower,
            frac_out,
            noise,
            min(s.ready, 24) / 24.0,
            abs(float(np.log(max(self._gain, 1e-3)))),
            shift if shift <= 12 else 12.0,
            float(corr >= cfg.hotend_match),
            s.hotend_size / (h * w) * 1000.0,
            body_luma,
            body_chroma,
            *self._blob_features(g8, c8, bg, cbg),
            area_pinned,
            *self._lost_features(g8, c8, bg, cbg, unit),
            *self._blob_self_features(g8, c8),
        )

    def _collect_look(self, g8: Gray, c8: MatLike | None, bg: Gray, cbg: MatLike | None) -> None:
        """Refine the hotend's look over the first matches after calibration.

        The calibration crop is one frame of a moving object cut by a background that still
        held the hotend; once the hotend is kept out of the background, what differs from it at
        each match is the hotend itself (its pixels), whatever it passes over.
        """
        s, cfg = self._s, self.config
        s.post_frames += 1
        tmpl = s.template
        corr, mx, my = self._match
        if tmpl is None or s.post_frames <= cfg.window or corr < cfg.hotend_match:
            # The first backgrounds after calibration may still hold the hotend.
            s.look_done = s.post_frames > 60 and self._finish_look()
            return
        th, tw = tmpl.shape[:2]
        crop = g8[my : my + th, mx : mx + tw]
        if crop.shape != tmpl.shape:
            return
        if s.fine:
            moving = self._size_mask(crop, bg[my : my + th, mx : mx + tw]) > 0
        else:
            moving = cv2.absdiff(crop, bg[my : my + th, mx : mx + tw]) > cfg.diff_threshold
        ccrop = None
        if c8 is not None and cbg is not None:
            ccrop = c8[my : my + th, mx : mx + tw]
            cd = _channel_max(cv2.absdiff(ccrop, cbg[my : my + th, mx : mx + tw]))
            moving |= cd > cfg.chroma_threshold
        if moving.mean() < 0.25:
            # The background there still holds the hotend (it hovers over a small part, and
            # the pasted-in background can carry it on): this crop says nothing.
            return
        s.look_crops.append((crop.copy(), None if ccrop is None else ccrop.copy(), moving))
        if len(s.look_crops) >= 8:
            s.look_done = self._finish_look()

    def _finish_look(self) -> bool:
        s = self._s
        crops, s.look_crops = s.look_crops, []
        if len(crops) >= 4:
            body = np.mean([m for _c, _cc, m in crops], axis=0) >= 0.6
            if int(body.sum()) >= 20:
                look = np.median([c for c, _cc, _m in crops], axis=0).astype(np.uint8)
                clook = None
                if all(cc is not None for _c, cc, _m in crops):
                    clook = np.median([cc for _c, cc, _m in crops], axis=0).astype(np.uint8)
                s.look = (look, clook, body)
        return True

    def _blob_features(
        self, g8: Gray, c8: MatLike | None, bg: Gray, cbg: MatLike | None
    ) -> tuple[float, float, float, float, float]:
        """How much of the hotend's lower and upper pixels changed, and what moves below it.

        A blob grows from the nozzle: it recolours the bottom of the hotend (not its top, which
        a hand or a bad match would change as well) and hangs below it, moving with it. Also
        body_low and below over their own level in this scene (hotends, parts and cameras
        differ more between scenes than a blob changes them).
        """
        s, cfg = self._s, self.config
        corr, mx, my = self._match
        none = (0.0, 0.0, 0.0, 0.0, 0.0)
        # Below the match threshold too: a large blob lowers the correlation itself, and the
        # best match is still about where the hotend is (the trees see `corr` alongside).
        if s.look is None or corr < 0.35:
            return none
        look, clook, body = s.look
        th, tw = look.shape[:2]
        crop = g8[my : my + th, mx : mx + tw]
        if crop.shape != look.shape:
            return none
        differs = cv2.absdiff(crop, look) > 25
        if c8 is not None and clook is not None:
            differs |= _channel_max(cv2.absdiff(c8[my : my + th, mx : mx + tw], clook)) > 12
        rows = np.flatnonzero(body.any(axis=1))
        cols = np.flatnonzero(body.any(axis=0))
        top, bottom = int(rows[0]), int(rows[-1]) + 1
        height = bottom - top
        low = body.copy()
        low[: bottom - max(1, int(0.35 * height))] = False
        high = body.copy()
        high[top + max(1, height // 2) :] = False
        body_low = float(differs[low].mean()) if low.any() else 0.0
        body_high = float(differs[high].mean()) if high.any() else 0.0
        # A band under the hotend, a little wider than it: only the hotend moves there.
        left, right = int(cols[0]), int(cols[-1]) + 1
        pad = (right - left) // 4
        h, w = g8.shape[:2]
        y0, y1 = min(h, my + bottom), min(h, my + bottom + max(2, int(0.4 * height)))
        x0, x1 = max(0, mx + left - pad), min(w, mx + right + pad)
        below = 0.0
        if y1 > y0 and x1 > x0:
            band = cv2.absdiff(g8[y0:y1, x0:x1], bg[y0:y1, x0:x1]) > cfg.diff_threshold
            if c8 is not None and cbg is not None:
                cband = _channel_max(cv2.absdiff(c8[y0:y1, x0:x1], cbg[y0:y1, x0:x1]))
                band |= cband > cfg.chroma_threshold
            below = float(band.mean())
        s.blob_hist.append((body_low, below))
        low_rel = below_rel = 0.0
        if len(s.blob_hist) > 30:
            level = np.median(np.array(s.blob_hist)[:-24], axis=0)
            low_rel, below_rel = body_low - float(level[0]), below - float(level[1])
        return body_low, body_high, below, low_rel, below_rel

    def _blob_self_features(self, g8: Gray, c8: MatLike | None) -> tuple[float, float]:
        """What the blob adds at the hotend, read against this frame and the two before it.

        body_low_self: the share of the hotend body's lower core (the refined look's pixels of
        the body's own colour, eroded by a pixel so a match a pixel off stays inside) that
        differs from the colour of the body's upper core in this frame. A clean hotend's body
        is one colour whatever the light and whatever it passes over; a blob recolours its
        bottom. under_moving: the share of a band under the hotend that moved in now (differs
        from both frames before), while the hotend's upper core moved too: in a clean print
        nothing that moves with the hotend hangs below its nozzle.
        """
        s = self._s
        corr, mx, my = self._match
        if s.look is None or corr < 0.35:
            return 0.0, 0.0
        look, clook, body = s.look
        th, tw = look.shape[:2]
        h, w = g8.shape[:2]
        if my + th > h or mx + tw > w:
            return 0.0, 0.0
        with_chroma = c8 is not None and clook is not None
        rows = np.flatnonzero(body.any(axis=1))
        top, bottom = int(rows[0]), int(rows[-1]) + 1
        upper = body.copy()
        upper[top + max(1, (bottom - top) // 2) :] = False
        if not upper.any():
            return 0.0, 0.0

        def far(
            img: Gray, cimg: MatLike | None, mask: npt.NDArray[np.bool_]
        ) -> npt.NDArray[np.bool_]:
            """Pixels more than 25 luma or 12 chroma levels off the mask's median colour."""
            out: npt.NDArray[np.bool_] = np.abs(img.astype(np.float32) - np.median(img[mask])) > 25
            if cimg is not None:
                cf = cimg.astype(np.float32)
                out |= (np.abs(cf - np.median(cf[mask], axis=0)) > 12).any(axis=2)
            return out

        core = body & ~far(look, clook if with_chroma else None, upper)
        core = cv2.erode(core.astype(np.uint8), self._k3) > 0
        crows = np.flatnonzero(core.any(axis=1))
        low_self = 0.0
        crop = g8[my : my + th, mx : mx + tw]
        ccrop = c8[my : my + th, mx : mx + tw] if with_chroma and c8 is not None else None
        if len(crows) >= 4:
            ctop, cbottom = int(crows[0]), int(crows[-1]) + 1
            core_up, core_low = core.copy(), core.copy()
            core_up[ctop + (cbottom - ctop) // 2 :] = False
            core_low[: cbottom - max(2, int(0.4 * (cbottom - ctop)))] = False
            if int(core_up.sum()) >= 3 and int(core_low.sum()) >= 3:
                low_self = float(far(crop, ccrop, core_up)[core_low].mean())
        under = 0.0
        # seen_last holds this frame last by now; a change of frame size empties it.
        if len(s.seen_last) == 3:
            cols = np.flatnonzero(body.any(axis=0))
            left, right = int(cols[0]), int(cols[-1]) + 1
            pad = (right - left) // 4
            y0, y1 = my, min(h, my + bottom + max(2, int(0.5 * (bottom - top))))
            x0, x1 = max(0, mx + left - pad), min(w, mx + right + pad)
            now = _moved_in(g8, c8, list(s.seen_last)[:2], np.s_[y0:y1, x0:x1]) > 20
            ys, xs = np.nonzero(upper)
            band = now[bottom:]  # the region's rows are the template's from my on
            if float(now[ys, xs + (mx - x0)].mean()) >= 0.3 and band.size:
                under = float(band.mean())
        return low_self, under

    def _lost_features(
        self, g8: Gray, c8: MatLike | None, bg: Gray, cbg: MatLike | None, unit: float
    ) -> tuple[float, float, float, float]:
        """Where the part has stood for a while and the bare bed shows now, and that share.

        The bed is estimated per pixel from the pixels around it that are not part (a
        normalised box blur at 1/4 scale, so light gradients and the bed's own shading
        follow). A part pixel (2x the tolerance from it in the background) that is within the
        tolerance again, in the background and in this frame, is where a detached part stood:
        a growing part only covers more of the bed, a hand or the hotend is not in the
        background, and a light switch moves the bed and the part alike. The steady pair
        also wants the bed in most of the window's frames (`lost_steady`).
        """
        s, cfg = self._s, self.config
        roi, ref = s.roi, s.ref
        if roi is None or ref is None:
            return 0.0, 0.0, 0.0, 0.0
        h, w = bg.shape[:2]
        if s.part_count is None or s.part_now is None:
            s.part_count = np.zeros((h, w), np.uint8)
            s.part_now = np.zeros((h, w), np.uint8)
        small_size = (max(1, w // 4), max(1, h // 4))
        known = cv2.bitwise_not(cv2.dilate(s.part_now, self._k5, iterations=2))
        weight = cv2.resize(known, small_size, interpolation=cv2.INTER_AREA).astype(np.float32)
        weight /= np.float32(255)
        k = (max(3, small_size[0] // 5) | 1,) * 2
        wsum = cv2.blur(weight, k)
        defined = cv2.resize(wsum, (w, h), interpolation=cv2.INTER_LINEAR) > 0.05
        norm = np.maximum(wsum, np.float32(1e-3))

        def bed(plane: MatLike) -> _F32:
            small = cv2.resize(plane, small_size, interpolation=cv2.INTER_AREA).astype(np.float32)
            est = cv2.blur(small * weight, k) / norm
            out: _F32 = cv2.resize(est, (w, h), interpolation=cv2.INTER_LINEAR)
            return out

        need = math.ceil(cfg.lost_steady * len(s.frames))

        def scan(
            frames: Iterable[MatLike], ref: _F32, tol: float
        ) -> tuple[_F32, npt.NDArray[np.bool_]]:
            """Per pixel: the least difference over the window, and is it bed in `need` frames.

            Part only where every frame of the window differs: a hotend hovering over a small
            part sits in the median background, but not in every frame.
            """
            least: _F32 | None = None
            count = np.zeros(ref.shape, np.uint8)
            for f in frames:
                d = cv2.absdiff(f.astype(np.float32), ref)
                least = d if least is None else cv2.min(least, d)
                count += np.asarray(d) < 1.5 * tol
            bare: npt.NDArray[np.bool_] = count >= need
            return (least if least is not None else np.zeros(ref.shape, np.float32)), bare

        tl, tc = cfg.bed_tolerance, cfg.bed_chroma_tolerance
        bed_l = bed(bg)
        # ref / s.cref: this frame's backgrounds, already in float32.
        near = (cv2.absdiff(ref, bed_l) < tl) & (
            cv2.absdiff(g8.astype(np.float32), bed_l) < 1.5 * tl
        )
        least, steady = scan(s.frames, bed_l, tl)
        far = least > 2 * tl
        if cbg is not None and s.cref is not None:
            for c in range(2):
                bed_c = bed(cbg[:, :, c])
                near &= cv2.absdiff(s.cref[:, :, c], bed_c) < tc
                if len(s.cframes) == len(s.frames):
                    cleast, csteady = scan((f[:, :, c] for f in s.cframes), bed_c, tc)
                    far |= cleast > 2 * tc
                    steady &= csteady
                if c8 is not None:
                    near &= cv2.absdiff(c8[:, :, c].astype(np.float32), bed_c) < 1.5 * tc
        in_roi = roi > 0
        stood = s.part_count >= cfg.lost_frames
        lost: MatLike = np.where(stood & near & defined & in_roi, 255, 0).astype(np.uint8)
        lost = cv2.morphologyEx(lost, cv2.MORPH_OPEN, self._k3)
        steady_lost: MatLike = np.where(steady, lost, 0).astype(np.uint8)
        steady_lost = cv2.morphologyEx(steady_lost, cv2.MORPH_OPEN, self._k3)
        part = far & defined & in_roi
        np.add(s.part_count, 1, out=s.part_count, where=part & (s.part_count < 255))
        s.part_now = np.where(part, 255, 0).astype(np.uint8)
        n_lost = cv2.countNonZero(lost)
        n_steady = cv2.countNonZero(steady_lost)
        s.lost_box = None
        if n_steady:
            x, y, bw, bh = cv2.boundingRect(steady_lost)
            s.lost_box = (x, y, x + bw, y + bh)
        area = max(unit, float(np.count_nonzero(stood)))
        return n_lost / unit, n_lost / area, n_steady / unit, n_steady / area

    def _pinned_area(
        self,
        area_score: float,
        bg: Gray,
        cbg: MatLike | None,
        colour: bool,
        count: Callable[[MatLike, float, MatLike | None, float], float],
    ) -> float:
        """Persistent change against the background from before it began (or `area`).

        Pinned when the area first reaches pin_level, for up to 4 x lag frames (2 min) or
        until nothing differs from it for 3 frames: a detached part keeps counting after the
        30-s reference has caught up (the second pass's rule, here only a feature).
        """
        s, cfg = self._s, self.config
        lag = cfg.lag + 1
        if s.fpin is None:
            if area_score < cfg.pin_level:
                return area_score * cfg.area_ref
            cold = s.cbackgrounds[-lag] if colour and len(s.cbackgrounds) >= lag else None
            s.fpin, s.fpin_age, s.fpin_quiet = (s.backgrounds[-lag], cold), 0, 0
        old, cold = s.fpin
        ldiff = self._persist_diff(bg, old, s.frames)
        cdiff = None
        if cbg is not None and cold is not None:
            cdiff = self._persist_diff(cbg, cold, s.cframes)
        pinned = count(ldiff, cfg.change_floor, cdiff, cfg.chroma_threshold)
        s.fpin_age += 1
        s.fpin_quiet = s.fpin_quiet + 1 if pinned / cfg.area_ref < cfg.unpin_level else 0
        if s.fpin_age >= 4 * cfg.lag or s.fpin_quiet >= 3:
            s.fpin = None
        return pinned

    # --- steps ----------------------------------------------------------------------------

    def _update_pin(self, area_score: float) -> None:
        s, cfg = self._s, self.config
        if cfg.pin_frames <= 0:
            return
        if s.pinned is None:
            if area_score >= cfg.pin_level:
                lag = self.config.lag + 1
                cold = s.cbackgrounds[-lag] if s.cbackgrounds else None
                s.pinned, s.pin_age, s.quiet = (s.backgrounds[-lag], cold), 0, 0
            return
        s.pin_age += 1
        s.quiet = s.quiet + 1 if area_score < cfg.unpin_level else 0
        if s.pin_age >= cfg.pin_frames or s.quiet >= 3:
            s.pinned = None

    def _boxes(self) -> list[tuple[int, int, int, int] | None]:
        """The hotend boxes of the frames in the window, oldest first."""
        s = self._s
        return list(s.boxes)[-len(s.frames) :]

    def _trim_backgrounds(self) -> None:
        # Twice the lag: the learned layer also compares against the background 2 x lag ago.
        s, keep = self._s, 2 * self.config.lag + 1
        while len(s.backgrounds) > keep:
            s.backgrounds.popleft()
        while len(s.cbackgrounds) > keep:
            s.cbackgrounds.popleft()

    def _match_photometry(self, g: _F32, ref: _F32, where: Mask | None) -> _F32:
        mg, sg = cv2.meanStdDev(g, mask=where)
        mr, sr = cv2.meanStdDev(ref, mask=where)
        scale = float(sr[0, 0]) / max(float(sg[0, 0]), 1e-3)
        scale = min(max(scale, 0.5), 2.0)
        self._gain = scale
        out: _F32 = (g - np.float32(mg[0, 0])) * np.float32(scale) + np.float32(mr[0, 0])
        return out

    def _align(self, g: _F32, ref: _F32, shift: tuple[float, float] | None = None) -> _F32:
        """Undo camera shake: measured against ref, or the given shift (chroma: luma's)."""
        if shift is None:
            (dx, dy), _ = cv2.phaseCorrelate(ref, g)
            self._shift = (dx, dy)
        else:
            dx, dy = shift
        if (abs(dx) < 0.25 and abs(dy) < 0.25) or abs(dx) > 12 or abs(dy) > 12:
            return g
        m = np.array([[1, 0, -dx], [0, 1, -dy]], dtype=np.float32)
        h, w = g.shape[:2]
        out: _F32 = cv2.warpAffine(g, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        return out

    def _change_mask(self, g: _F32, ref: _F32) -> Mask:
        diff = cv2.absdiff(g, ref)
        _, mask = cv2.threshold(diff, self.config.diff_threshold, 255, cv2.THRESH_BINARY)
        out: Mask = mask.astype(np.uint8)
        return out

    def _size_mask(self, g: _F32, ref: _F32) -> Mask:
        """Change vs the background, smoothed (noise averages out) and at a low threshold."""
        cfg = self.config
        diff = cv2.absdiff(g, ref)
        if cfg.size_blur > 1:
            diff = cv2.blur(diff, (cfg.size_blur, cfg.size_blur))
        _, mask = cv2.threshold(diff, cfg.size_threshold, 255, cv2.THRESH_BINARY)
        out: Mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, self._k3)
        if cfg.size_blur > 1 and cfg.size_erode:
            out = cv2.erode(out, self._k3)
        return out

    def _calibrate(self, shape: tuple[int, int]) -> None:
        s, cfg = self._s, self.config
        w = shape[1]
        pts = None if s.calib_acc is None else cv2.findNonZero(s.calib_acc)
        sizes = [x for x in s.calib_sizes if x > 0]
        s.hotend_size = float(np.median(sizes)) if sizes else 0.0
        if s.fine_crops:
            fine = float(np.median([c[0] for c in s.fine_crops]))
            if s.hotend_size < cfg.size_switch * fine:
                s.fine, s.hotend_size, s.calib_crops = True, fine, s.fine_crops
            s.fine_crops = []
        if s.calib_crops:
            # The moving object of typical size is the hotend: its crop is the template.
            _area, frame, cframe, moved, (x0, y0, x1, y1) = min(
                s.calib_crops, key=lambda c: abs(c[0] - s.hotend_size)
            )
            if x1 - x0 >= 6 and y1 - y0 >= 6:
                s.template = frame[y0:y1, x0:x1].copy()
                s.body = moved[y0:y1, x0:x1] > 0
                if cframe is not None:
                    s.ctemplate = cframe[y0:y1, x0:x1].astype(np.float32)
            s.calib_crops.clear()
        if cfg.roi is not None:
            self._set_configured_roi(shape)
            return
        roi: MatLike = np.zeros(shape, np.uint8)
        if pts is None or len(pts) < 20:
            roi[:] = 255  # nothing moved: watch everything rather than nothing
            s.roi = roi
            return
        hull = cv2.convexHull(pts)
        bh = cv2.boundingRect(hull)[3]
        # The part grows upwards in the image: extend the region above the first layers.
        up = np.array([[[px, max(0, py - bh // 2)]] for px, py in hull[:, 0]], dtype=np.int32)
        hull = cv2.convexHull(np.vstack([hull, up]))
        cv2.fillConvexPoly(roi, hull, 255)
        margin = max(3, int(cfg.roi_margin * w))
        roi = cv2.dilate(roi, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2))
        s.roi = roi
        contours, _ = cv2.findContours(roi, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        s.roi_poly = max(contours, key=cv2.contourArea) if contours else None
        s.region = None

    def _unit(self, shape: tuple[int, int]) -> float:
        """Pixels per hotend area: the calibrated hotend, floored at a share of the frame."""
        return max(self._s.hotend_size, self.config.unit_floor * shape[0] * shape[1], 1.0)

    def _find_hotend(self, g8: Gray, c8: MatLike | None) -> tuple[int, int, int, int] | None:
        s, cfg = self._s, self.config
        tmpl = s.template
        self._match = (0.0, 0, 0)
        if tmpl is None or tmpl.shape[0] >= g8.shape[0] or tmpl.shape[1] >= g8.shape[1]:
            return None
        # At half resolution: template matching costs frame x template pixels, 16x less here.
        if s.template_small is None:
            s.template_small = cv2.resize(tmpl, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        small = cv2.resize(g8, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        res = cv2.matchTemplate(small, s.template_small, cv2.TM_CCOEFF_NORMED)
        if cfg.track > 0 and len(s.seen_last) >= 2:
            moving = self._moving(g8, c8, s.template_small.shape[:2])
            _min, _best, _minloc, (x, y) = cv2.minMaxLoc((1 - cfg.track) * res + cfg.track * moving)
            best = float(res[y, x])  # the look's own correlation there: hotend_match's scale
        else:
            _min, best, _minloc, (x, y) = cv2.minMaxLoc(res)
        self._match = (float(best), 2 * x, 2 * y)
        if best < cfg.hotend_match:
            return None
        x, y = 2 * x, 2 * y
        th, tw = tmpl.shape[:2]
        pad = max(2, tw // 5)
        h, w = g8.shape[:2]
        return (max(0, x - pad), max(0, y - pad), min(w, x + tw + pad), min(h, y + th + pad))

    def _moving(
        self, g8: Gray, c8: MatLike | None, size: tuple[int, int]
    ) -> npt.NDArray[np.float32]:
        """How much the frame differs from both frames before it, per template-sized window.

        At half resolution, aligned with the template's correlation map, relative to the most
        in this frame (0-1). What differs from both is what moved in now: the hotend where it
        is (the two before hold what it left, where it was then differs from one of them
        only), not a patch that only looks like it. No threshold: a dark hotend over a bed of
        its own brightness differs by little, and by its whole area.
        """
        # seen_last does not hold this frame yet: its last two are the two before.
        diff = _moved_in(g8, c8, list(self._s.seen_last)[-2:], np.s_[:, :])
        small = cv2.resize(diff, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        sums = cv2.integral(small, sdepth=cv2.CV_32F)
        th, tw = size
        win = sums[th:, tw:] - sums[:-th, tw:] - sums[th:, :-tw] + sums[:-th, :-tw]
        out: npt.NDArray[np.float32] = win / max(float(win.max()), 1.0)
        return out

    def _set_configured_roi(self, shape: tuple[int, int]) -> None:
        s, roi_pts = self._s, self.config.roi or ()
        h, w = shape
        poly = np.array([[round(x * (w - 1)), round(y * (h - 1))] for x, y in roi_pts], np.int32)
        roi = np.zeros(shape, np.uint8)
        cv2.fillPoly(roi, [poly], 255)
        s.roi, s.roi_poly, s.region = roi, poly.reshape(-1, 1, 2), None

    def _name(
        self,
        feats: tuple[float, ...],
        change: tuple[int, int, int, int] | None,
        hotend: tuple[int, int, int, int] | None,
    ) -> tuple[str, tuple[int, int, int, int] | None]:
        """The kind the learned layer's evidence shows, and where (see LOST_KIND)."""
        lost_box = self._s.lost_box
        if lost_box is not None and feats[_LOST_STEADY] >= LOST_KIND:
            # The bare bed shows steadily where the part stood: it was dragged off or fell.
            return KIND_DETACHMENT, lost_box
        if feats[_AREA_LONG] < BLOB_AREA:
            # Little has changed in the print region: the evidence is at the hotend (a blob of
            # the part's own colour does not grow the moving object much).
            return KIND_BLOB, hotend
        if feats[_N_COMP] >= SPAGHETTI_REGIONS or feats[_EDGES] >= SPAGHETTI_EDGES:
            return KIND_SPAGHETTI, change or hotend
        return KIND_DETACHMENT, change or hotend

    def _classify(
        self, region: Mask, g: _F32
    ) -> tuple[str, tuple[int, int, int, int] | None, float]:
        """Spaghetti (textured: many edges inside the change) or detachment (a solid change).

        Also returns the edge density it decided on.
        """
        n, labels, stats, _ = cv2.connectedComponentsWithStats(region, connectivity=8)
        if n <= 1:
            return KIND_DETACHMENT, None, 0.0
        i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, bw, bh, _area = (int(v) for v in stats[i])
        patch = np.clip(g[y : y + bh, x : x + bw], 0, 255).astype(np.uint8)
        inside = labels[y : y + bh, x : x + bw] == i
        edges = cv2.Canny(patch, 40, 100) > 0
        density = float(edges[inside].mean()) if inside.any() else 0.0
        kind = KIND_SPAGHETTI if density > 0.18 else KIND_DETACHMENT
        return kind, (x, y, x + bw, y + bh), density

    def _level_for(self, score: float, now: float) -> Level:
        cfg, s = self.config, self._s
        if s.above >= cfg.pause_frames and score >= cfg.pause_level:
            return Level.PAUSE
        if score >= cfg.warn_level:
            return Level.WARNING
        return Level.OK

    def _result(
        self,
        level: Level,
        raw: float,
        kind: str | None,
        box: tuple[int, int, int, int] | None,
        *,
        scene_change: bool = False,
        area: float = 0.0,
        growth: float = 0.0,
        features: tuple[float, ...] | None = None,
    ) -> Detection:
        s, cfg = self._s, self.config
        if cfg.sustain_frames > 0:
            s.recent.append(min(raw, cfg.sustain_cap * cfg.pause_level))
            while len(s.recent) > cfg.sustain_frames:
                s.recent.popleft()
            sustained = (
                len(s.recent) == cfg.sustain_frames
                and sum(s.recent) >= cfg.sustain_level * cfg.pause_level * cfg.sustain_frames
            )
            if sustained and level in (Level.OK, Level.WARNING):
                level = Level.PAUSE
        handcrafted = level
        if features is not None:
            s.ready += 1
        score = s.ewma
        probability = None
        if self.model is not None and level is not Level.CALIBRATING:
            level, score, probability = self._learned(self.model, features, scene_change)
        h, w = s.shape or (1, 1)
        snoozed = level in (Level.WARNING, Level.PAUSE) and self._last_now < self._snooze_until
        if s.region is None and s.roi_poly is not None:
            s.region = tuple((float(p[0][0]) / w, float(p[0][1]) / h) for p in s.roi_poly)
        region = s.region
        nbox = None
        if box is not None:
            nbox = (box[0] / w, box[1] / h, box[2] / w, box[3] / h)
        return Detection(
            level=Level.OK if snoozed else level,
            score=score,
            raw=raw,
            kind=kind,
            box=nbox,
            region=region,
            scene_change=scene_change,
            snoozed=snoozed,
            area=area,
            growth=growth,
            ewma=s.ewma,
            features=features,
            probability=probability,
            handcrafted=handcrafted,
        )

    def _learned(
        self, model: learned.TreeModel, features: tuple[float, ...] | None, scene_change: bool
    ) -> tuple[Level, float, float | None]:
        """The model's level, score (probability / threshold: 1.0 = pause) and probability."""
        s, cfg = self._s, self.config
        if s.decision is None:
            s.decision = learned.Decision(model, cfg.pause_level, cfg.pause_frames)
        level, score, p = s.decision.step(features, scene_change, s.ewma)
        return Level(level), score, p


def _moved_in(
    g8: Gray,
    c8: MatLike | None,
    before: list[tuple[Gray, MatLike | None]],
    region: tuple[slice, slice],
) -> Gray:
    """Per pixel of region, how much this frame differs from every frame in before (the least).

    What differs from both frames before is what moved in now: where a moving thing was then
    differs from one of them only.
    """
    g = g8[region]
    diff: Gray = np.full_like(g, 255)
    for pg, pc in before:
        d = cv2.absdiff(g, pg[region])
        if c8 is not None and pc is not None:
            # Chroma steps are about half luma's for the same contrast (doubled, saturating).
            cd = _channel_max(cv2.absdiff(c8[region], pc[region]))
            d = cv2.max(d, cv2.add(cd, cd))
        diff = cv2.min(diff, d)
    return diff


def _channel_max(img: MatLike) -> MatLike:
    """Per pixel, the largest channel (a colour difference's strongest component)."""
    out: MatLike = cv2.max(img[:, :, 0], img[:, :, 1])
    return out


def _min_distance(
    frames: deque[MatLike],
    boxes: list[tuple[int, int, int, int] | None],
    old: MatLike,
    limit: MatLike,
) -> MatLike:
    """Per pixel, the smallest distance (largest channel) of any frame from `old`, capped.

    A frame's hotend box holds the background pasted in, not what the camera saw: no vote.
    """
    out = limit
    for i, f in enumerate(frames):
        d = cv2.absdiff(f, old)
        if d.ndim == 3:
            d = _channel_max(d)
        box = boxes[i] if i < len(boxes) else None
        if box is not None:
            x0, y0, x1, y1 = box
            d[y0:y1, x0:x1] = 255
        out = cv2.min(out, d)
    return out


def _largest_component(mask: Mask) -> tuple[int, tuple[int, int, int, int] | None]:
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return 0, None
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, bw, bh, area = (int(v) for v in stats[i])
    return area, (x, y, x + bw, y + bh)


def _median_and_spread(frames: deque[Gray]) -> tuple[Gray, Gray]:
    """Per-pixel median and max - min of a few frames.

    An odd-even transposition sort of whole images with cv2.min/max: n passes of n/2
    compare-exchanges, each vectorised over the frame. For 7 small frames that is about 40
    array operations; np.partition along a stacked axis took most of the per-frame time (44 of
    63 ms in a profile). Same result, exactly.
    """
    v = list(frames)
    n = len(v)
    for p in range(n):
        for i in range(p % 2, n - 1, 2):
            lo = cv2.min(v[i], v[i + 1])
            v[i + 1] = cv2.max(v[i], v[i + 1])
            v[i] = lo
    spread: Gray = cv2.subtract(v[-1], v[0])
    return v[n // 2], spread
