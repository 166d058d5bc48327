"""Seeded synthetic print-camera sequences with labelled failures and hard negatives.

No public data set of print-failure images ships with a package, so the detector is measured on
scenes rendered here: a bed in perspective, a part that grows layer by layer from a G-code
toolpath (written by `toolpath_gcode` and parsed back by `parse_gcode`, so the renderer consumes
real G1 moves), a hotend that follows that toolpath, lighting drift, sensor noise, JPEG and camera
shake. Failures start at a labelled onset; hard negatives are sequences without a failure that
contain brims, supports, stringing, cables, hands, light switches or a long pause.

Every sequence is a pure function of (seed, kind, size): the same call renders the same bytes.
Tuning uses `TUNING_SEEDS`; `HELDOUT_SEEDS` is only for the reported figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
import math
from typing import Final

import cv2
from cv2.typing import MatLike
import numpy as np
import numpy.typing as npt

GENERATOR_VERSION: Final = "synth-1"
FRAME_INTERVAL_S: Final = 2.0  # one frame every 2 s, as the monitor samples
TUNING_SEEDS: Final = range(1000)
HELDOUT_SEEDS: Final = range(100_000, 101_000)  # never used while tuning

FAILURES: Final = ("spaghetti", "detachment", "blob")
NEGATIVES: Final = ("clean", "brim", "supports", "stringing", "cables", "hands", "lights", "pause")
KINDS: Final = FAILURES + NEGATIVES
# A failure starts at a frame in [45, 110): after calibration, with time left to catch it.
ONSETS: Final = (45, 110)

Image = MatLike
Points = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Frame:
    """One rendered frame: JPEG bytes plus its labels."""

    index: int
    jpeg: bytes
    failing: bool  # the failure has started (index >= onset)
    paused: bool  # the printer is paused (the monitor does not watch)
    event: str | None = None  # "pause" / "resume" when the job state changes at this frame


@dataclass(slots=True)
class Sequence:
    """A labelled sequence; frames are rendered lazily by `frames()`."""

    seed: int
    kind: str
    size: tuple[int, int]
    length: int
    onset: int | None  # first failing frame, None for negatives
    pause_span: tuple[int, int] | None = None  # [start, end) frames while paused
    _scene: _Scene | None = field(default=None, repr=False)

    def scene(self) -> _Scene:
        """The scene drawn from the seed, built once for the frames and every label.

        All its randomness is drawn up front, so rendering leaves it unchanged.
        """
        if self._scene is None:
            self._scene = _Scene(self)
        return self._scene

    def frames(self) -> Iterator[Frame]:
        """Render every frame in order (deterministic)."""
        scene = self.scene()
        for i in range(self.length):
            img = scene.render(i)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, scene.jpeg_quality(i)])
            if not ok:  # pragma: no cover - encoding a valid uint8 image does not fail
                raise RuntimeError("JPEG encoding failed")
            paused = self.pause_span is not None and self.pause_span[0] <= i < self.pause_span[1]
            event = None
            if self.pause_span is not None:
                if i == self.pause_span[0]:
                    event = "pause"
                elif i == self.pause_span[1]:
                    event = "resume"
            yield Frame(
                i,
                buf.tobytes(),
                failing=self.onset is not None and i >= self.onset,
                paused=paused,
                event=event,
            )


def make_sequence(
    seed: int, kind: str, size: tuple[int, int] = (640, 480), length: int | None = None
) -> Sequence:
    """The labelled sequence for (seed, kind); failures start 45-110 frames in (after calibration)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    if kind in FAILURES:
        onset = int(rng.integers(*ONSETS))
        n = length or onset + 45
        return Sequence(seed, kind, size, n, min(onset, n))
    n = length or 300
    span = None
    if kind == "pause":
        start = int(rng.integers(60, 120))
        span = (start, start + int(rng.integers(30, 150)))
        n = max(n, span[1] + 60)
    return Sequence(seed, kind, size, n, None, span)


def rendered_hotend_area(seq: Sequence, width: int) -> float:
    """The hotend body's area in pixels as rendered over the part's first layers, at `width`.

    A label for measuring the detector's calibration (its hotend unit), like `onset` for recall.
    """
    scene = seq.scene()
    x, y = scene.center
    z = (min(3, scene.layers - 1) + 1) * scene.layer_h
    body = _hotend_body(x, y, z)
    hull = cv2.convexHull(scene.cam.project(body).astype(np.float32))
    return float(cv2.contourArea(hull)) * (width / seq.size[0]) ** 2


def filament_name(seq: Sequence) -> str:
    """The filament colour the print is drawn in (`FILAMENT_NAMES`; each part varies it a little).

    A label like the onset, to split recall by: dark filament over a dark bed and hotend is
    the scene a camera sees least of.
    """
    return FILAMENT_NAMES[seq.scene().filament_index]


def failure_visibility(seq: Sequence, i: int, width: int, threshold: float = 20.0) -> float:
    """How much of frame i the failure changes, in rendered hotend areas, at `width`.

    The frame against the same print had it not failed (same scene, light, noise and shake):
    pixels where a colour channel differs by more than `threshold`. A label like the onset:
    what a camera could see at all, to read recall against.
    """
    scene = seq.scene()
    size = (width, round(seq.size[1] * width / seq.size[0]))
    a, b = (
        cv2.resize(scene.render(i, failure=f), size, interpolation=cv2.INTER_AREA)
        for f in (True, False)
    )
    changed = np.max(cv2.absdiff(a, b), axis=2) > threshold
    return float(np.count_nonzero(changed)) / rendered_hotend_area(seq, width)


def hotend_boxes(seq: Sequence, width: int) -> npt.NDArray[np.float64]:
    """The hotend's box in every frame as rendered (body and nozzle; x0, y0, x1, y1 at `width`).

    A label for measuring where the detector matches the hotend, like `onset` for recall. The
    camera's shake is left out: the detector aligns each frame to its background first.
    """
    scene = seq.scene()
    out = np.zeros((seq.length, 4))
    for i in range(seq.length):
        failing = seq.onset is not None and i >= seq.onset
        x, y, z = scene.hotend_pos(i, failing=failing)
        pts = scene.cam.project(np.vstack([_hotend_body(x, y, z), [[x, y, z]]]))
        out[i] = (*pts.min(axis=0), *pts.max(axis=0))
    return out * (width / seq.size[0])


# --- G-code: a small slicer-like toolpath writer and a parser for what it writes --------------


def toolpath_gcode(footprint: Points, layers: int, layer_h: float, *, brim: int = 0) -> str:
    """Perimeter + alternating zig-zag infill per layer (+ brim loops on layer 1), as G-code."""
    lines = ["G21", "G90", "M82", "G28"]
    e = 0.0
    center = footprint.mean(axis=0)
    for layer in range(layers):
        z = (layer + 1) * layer_h
        lines.append(f";LAYER:{layer}")
        lines.append(f"G1 Z{z:.2f} F600")
        loops = [footprint]
        if layer == 0:
            loops.extend(center + (footprint - center) * (1 + 0.08 * k) for k in range(1, brim + 1))
        for loop in loops:
            x0, y0 = loop[0]
            lines.append(f"G0 X{x0:.2f} Y{y0:.2f}")
            for x, y in [*loop[1:], loop[0]]:
                e += 0.05
                lines.append(f"G1 X{x:.2f} Y{y:.2f} E{e:.4f}")
        lo, hi = footprint.min(axis=0), footprint.max(axis=0)
        axis = layer % 2
        for i, v in enumerate(np.linspace(lo[axis] + 1, hi[axis] - 1, 8)):
            a, b = (
                (lo[1 - axis] + 1, hi[1 - axis] - 1)
                if i % 2 == 0
                else (hi[1 - axis] - 1, lo[1 - axis] + 1)
            )
            p0 = (v, a) if axis == 0 else (a, v)
            p1 = (v, b) if axis == 0 else (b, v)
            lines.append(f"G0 X{p0[0]:.2f} Y{p0[1]:.2f}")
            e += 0.05
            lines.append(f"G1 X{p1[0]:.2f} Y{p1[1]:.2f} E{e:.4f}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Toolpath:
    """Parsed moves: per layer its z and extruding XY polyline points."""

    layer_z: list[float]
    layer_points: list[Points]


def parse_gcode(text: str) -> Toolpath:
    """Read G0/G1 X/Y/Z/E moves (absolute) into per-layer point lists."""
    x = y = z = 0.0
    layers_z: list[float] = []
    layers_pts: list[list[tuple[float, float]]] = []
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line or line.split()[0] not in ("G0", "G1"):
            continue
        words = {w[0]: float(w[1:]) for w in line.split()[1:] if len(w) > 1}
        if "Z" in words and words["Z"] != z:
            z = words["Z"]
            layers_z.append(z)
            layers_pts.append([])
        x, y = words.get("X", x), words.get("Y", y)
        if layers_pts and ("X" in words or "Y" in words):
            layers_pts[-1].append((x, y))
    return Toolpath(layers_z, [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in layers_pts])


# --- Rendering ---------------------------------------------------------------------------------


class _Camera:
    """Pinhole camera looking at the bed centre from the front and above."""

    def __init__(self, rng: np.random.Generator, size: tuple[int, int]) -> None:
        w, h = size
        elev = math.radians(rng.uniform(22, 42))
        azim = math.radians(rng.uniform(-25, 25))
        dist = rng.uniform(330, 420)
        target = np.array([110.0, 110.0, 25.0]) + rng.uniform(-8, 8, 3) * [1, 1, 0.5]
        eye = target + dist * np.array(
            [math.sin(azim) * math.cos(elev), -math.cos(azim) * math.cos(elev), math.sin(elev)]
        )
        fwd = (target - eye) / np.linalg.norm(target - eye)
        right = np.cross(fwd, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, fwd)
        self.rot = np.stack([right, -up, fwd])
        self.eye = eye
        fov = math.radians(rng.uniform(48, 62))
        self.f = (w / 2) / math.tan(fov / 2)
        self.c = np.array([w / 2, h / 2])

    def project(self, pts: Points) -> Points:
        cam = (pts - self.eye) @ self.rot.T
        out: Points = cam[:, :2] / cam[:, 2:3] * self.f + self.c
        return out


def _hull(pts: Points) -> MatLike:
    return cv2.convexHull(np.round(pts * 16).astype(np.int32))


def _fill(img: Image, pts: Points, color: tuple[float, ...]) -> None:
    cv2.fillConvexPoly(img, _hull(pts), color, cv2.LINE_AA, 4)


def _poly(n: int, rng: np.random.Generator, radius: float) -> Points:
    if n == 4:
        a, b = radius * rng.uniform(0.6, 1.0), radius * rng.uniform(0.6, 1.0)
        pts = np.array([[-a, -b], [a, -b], [a, b], [-a, b]], dtype=np.float64)
    else:
        ang = np.linspace(0, 2 * math.pi, n, endpoint=False)
        pts = np.stack([np.cos(ang), np.sin(ang)], axis=1) * radius
    theta = rng.uniform(0, math.pi)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    out: Points = pts @ rot.T
    return out


_FILAMENTS: Final = (
    (40, 40, 200),  # red (BGR); FILAMENT_NAMES in this order
    (200, 120, 30),  # blue
    (30, 180, 240),  # orange/yellow
    (60, 160, 60),  # green
    (235, 235, 235),  # white
    (40, 40, 40),  # black
    (180, 60, 170),  # purple
)


FILAMENT_NAMES: Final = ("red", "blue", "orange", "green", "white", "black", "purple")


class _Scene:
    """All randomness drawn up front from the seed, so render(i) depends only on i."""

    def __init__(self, seq: Sequence) -> None:
        self.seq = seq
        w, h = seq.size
        self.w, self.h = w, h
        self.s = w / 640.0  # line widths scale with resolution (same physical scene)
        rng = np.random.default_rng([seq.seed, 7, KINDS.index(seq.kind)])
        self.rng_seed = seq.seed
        self.cam = _Camera(rng, seq.size)
        kind = seq.kind
        # Static background: wall gradient, frame rails, bed.
        bg = np.empty((h, w, 3), np.float32)
        top, bottom = rng.uniform(60, 150, 3), rng.uniform(30, 110, 3)
        ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        bg[:] = top * (1 - ramp) + bottom * ramp
        tex = cv2.resize(rng.normal(0, 6, (h // 8 + 1, w // 8 + 1)).astype(np.float32), (w, h))
        bg += tex[:, :, None]
        bed = np.array([[0, 0, 0], [220, 0, 0], [220, 220, 0], [0, 220, 0]], dtype=np.float64)
        bed_color = tuple(float(v) for v in rng.uniform(20, 70, 3) + rng.uniform(0, 60))
        _fill_f(bg, self.cam.project(bed), bed_color)
        # Bed texture (PEI sheet speckle) inside the bed quad only.
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, _hull(self.cam.project(bed)), 255, cv2.LINE_8, 4)
        speck = rng.normal(0, 5, (h, w)).astype(np.float32)
        bg += (speck * (mask > 0))[:, :, None]
        # Frame uprights left and right of the bed.
        for x in (-25.0, 245.0):
            pts = np.array([[x, 230, 0], [x + 12, 230, 0], [x + 12, 230, 300], [x, 230, 300]])
            _fill_f(bg, self.cam.project(pts), tuple(float(v) for v in rng.uniform(20, 60, 3)))
        self.static_cable: Points | None = None
        if kind == "cables" or rng.random() < 0.2:
            t = np.linspace(0, 1, 30)
            start = np.array([rng.uniform(-20, 40), rng.uniform(150, 240), rng.uniform(40, 120)])
            end = np.array([rng.uniform(180, 240), rng.uniform(150, 240), rng.uniform(0, 60)])
            sag = np.stack([0 * t, 0 * t, -rng.uniform(10, 40) * np.sin(t * math.pi)], axis=1)
            line = start + (end - start) * t[:, None] + sag
            self.static_cable = self.cam.project(line)
            cv2.polylines(
                bg,
                [np.round(self.static_cable).astype(np.int32)],
                False,
                (15, 15, 15),
                max(1, round(3 * self.s)),
                cv2.LINE_AA,
            )
        self.background = np.clip(bg, 0, 255).astype(np.uint8)
        # Part: a convex footprint printed from G-code.
        self.center = np.array([110.0, 110.0]) + rng.uniform(-35, 35, 2)
        radius = rng.uniform(12, 32)
        self.footprint = _poly(int(rng.choice([4, 6, 8, 24])), rng, radius) + self.center
        self.layer_h = 0.2
        self.height = rng.uniform(15, 45)
        self.taper = rng.uniform(0.7, 1.05)
        self.layers = int(self.height / self.layer_h)
        brim = 4 if kind == "brim" or rng.random() < 0.3 else 0
        self.gcode = toolpath_gcode(self.footprint, self.layers, self.layer_h, brim=brim)
        self.path = parse_gcode(self.gcode)
        self.brim = brim
        self.filament_index = int(rng.integers(len(_FILAMENTS)))
        self.filament = np.array(_FILAMENTS[self.filament_index], np.float64)
        self.filament = np.clip(self.filament + rng.normal(0, 10, 3), 0, 255)
        # A second part (multi-part plate) for stringing and sometimes in general.
        self.second: Points | None = None
        if kind == "stringing" or rng.random() < 0.25:
            off = rng.uniform(-1, 1, 2)
            off = off / (np.linalg.norm(off) + 1e-9) * (radius * 2 + rng.uniform(8, 20))
            self.second = _poly(4, rng, rng.uniform(6, 12)) + self.center + off
        self.supports: list[Points] = []
        if kind == "supports" or rng.random() < 0.15:
            for _ in range(int(rng.integers(2, 6))):
                ang = rng.uniform(0, 2 * math.pi)
                c = self.center + (radius + rng.uniform(3, 8)) * np.array(
                    [math.cos(ang), math.sin(ang)]
                )
                self.supports.append(_poly(4, rng, rng.uniform(1.2, 2.5)) + c)
        # Print progress: layer reached at each frame (fast first layers, then steady).
        n = seq.length
        per_frame = self.layers / max(n * rng.uniform(1.5, 4.0), 1)  # the job outlasts the clip
        self.layer_at = np.minimum(
            self.layers - 1, (np.arange(n) * per_frame + min(3, self.layers - 1)).astype(int)
        )
        # Hotend position for each frame: a point along its current layer's toolpath.
        self.hotend_xy = np.zeros((n, 2))
        for i in range(n):
            pts = self.path.layer_points[min(self.layer_at[i], len(self.path.layer_points) - 1)]
            self.hotend_xy[i] = pts[int(rng.integers(len(pts)))] if len(pts) else self.center
        self.park = np.array([rng.choice([5.0, 215.0]), 215.0])
        # Nuisances.
        self.drift_phase = rng.uniform(0, 2 * math.pi)
        self.drift_period = rng.uniform(150, 600)
        self.drift_amp = rng.uniform(0.02, 0.12)
        self.noise = rng.uniform(1.5, 5.0)
        self.jpeg_q = rng.integers(60, 91, n)
        self.shake = rng.normal(0, rng.uniform(0.1, 0.6), (n, 2))
        for j in rng.choice(n, size=max(1, n // 60), replace=False):
            self.shake[j] += rng.uniform(-3, 3, 2)  # an occasional bump
        self.shake *= self.s
        nrng = np.random.default_rng([seq.seed, 11])
        self.noise_fields = []
        for _ in range(4):
            field_ = nrng.normal(0, self.noise, (h, w, 1)).astype(np.float32)
            field_ = np.repeat(field_, 3, axis=2)
            self.noise_fields.append(
                (
                    np.clip(field_, 0, 255).astype(np.uint8),
                    np.clip(-field_, 0, 255).astype(np.uint8),
                )
            )
        self.noise_pick = rng.integers(0, 4, n)
        # Light switches: frame -> (gain, gradient strength).
        self.light_steps: list[tuple[int, float, float]] = []
        nsw = int(rng.integers(2, 6)) if kind == "lights" else (1 if rng.random() < 0.1 else 0)
        for _ in range(nsw):
            self.light_steps.append(
                (
                    int(rng.integers(min(30, n - 1), n)),
                    rng.uniform(0.55, 1.5),
                    rng.uniform(-0.25, 0.25),
                )
            )
        self.light_steps.sort()
        # Hands: a few 1-3 frame visits.
        self.hands: list[tuple[int, int, Points]] = []
        nh = int(rng.integers(2, 6)) if kind == "hands" else (1 if rng.random() < 0.1 else 0)
        for _ in range(nh):
            first = int(rng.integers(min(25, max(0, n - 4)), max(1, n - 3)))
            tip = np.array([rng.uniform(40, 180), rng.uniform(20, 180), rng.uniform(5, 60)])
            self.hands.append((first, first + int(rng.integers(1, 4)), tip))
        self.moving_cable = kind == "cables" or rng.random() < 0.3
        # Stringing: thin strands between the two parts appear over time.
        self.strings: list[tuple[int, Points]] = []
        if kind == "stringing" and self.second is not None:
            for _ in range(int(rng.integers(3, 9))):
                a = self.footprint[int(rng.integers(len(self.footprint)))]
                b = self.second[int(rng.integers(len(self.second)))]
                self.strings.append((int(rng.integers(min(20, n - 1), n)), np.array([a, b])))
        # Failures.
        self.onset = seq.onset
        self.fail_rng_seed = int(rng.integers(1 << 30))
        self.detach_mode = str(rng.choice(["shift", "tip", "vanish"]))
        self.detach_shift = rng.uniform(-1, 1, 2)
        self.detach_shift = (
            self.detach_shift / (np.linalg.norm(self.detach_shift) + 1e-9) * rng.uniform(12, 35)
        )
        self.detach_angle = rng.uniform(-0.8, 0.8)
        self.blob_rate = rng.uniform(0.35, 0.8)  # mm of radius per frame
        self.strands: list[tuple[int, npt.NDArray[np.int32], tuple[float, ...], int]] = []
        if seq.kind == "spaghetti" and self.onset is not None:
            self._make_strands(rng)

    def _make_strands(self, rng: np.random.Generator) -> None:
        onset = self.onset or 0
        for i in range(onset, self.seq.length):
            for _ in range(int(rng.integers(2, 6))):
                # A curly strand from near the nozzle, sagging towards the bed.
                start = np.array([*self.hotend_xy[i], self.layer_at[min(i, onset)] * self.layer_h])
                pts = [start]
                heading = rng.uniform(0, 2 * math.pi)
                for _ in range(int(rng.integers(8, 20))):
                    heading += rng.normal(0, 0.9)
                    step = (
                        np.array([math.cos(heading), math.sin(heading), rng.uniform(-1.2, 0.4)])
                        * 2.2
                    )
                    nxt = pts[-1] + step
                    nxt[2] = max(nxt[2], 0.0)
                    pts.append(nxt)
                img_pts = np.round(self.cam.project(np.array(pts)) * 16).astype(np.int32)
                color = tuple(
                    float(v) for v in np.clip(self.filament * rng.uniform(0.75, 1.15), 0, 255)
                )
                self.strands.append(
                    (i, img_pts, color, max(1, round(rng.uniform(1, 2.2) * self.s)))
                )

    def jpeg_quality(self, i: int) -> int:
        return int(self.jpeg_q[i])

    def _paused(self, i: int) -> bool:
        span = self.seq.pause_span
        return span is not None and span[0] <= i < span[1]

    def _prism(  # noqa: PLR0917 - a drawing primitive's natural argument list
        self,
        img: Image,
        foot: Points,
        z0: float,
        z1: float,
        color: npt.NDArray[np.float64],
        shade_top: float,
    ) -> None:
        """A slab between z0 and z1 drawn in bands, so layer lines show; then its top face."""
        c = foot.mean(axis=0)
        bands = max(1, int((z1 - z0) / 1.6))
        edges = np.linspace(z0, z1, bands + 1)
        for k in range(bands):
            za, zb = edges[k], edges[k + 1]
            fa = c + (foot - c) * (1 - (1 - self.taper) * za / max(self.height, 1))
            fb = c + (foot - c) * (1 - (1 - self.taper) * zb / max(self.height, 1))
            pts = np.vstack([np.c_[fa, np.full(len(fa), za)], np.c_[fb, np.full(len(fb), zb)]])
            band_shade = 0.72 + 0.06 * (k % 2)
            _fill(img, self.cam.project(pts), tuple(float(v) for v in color * band_shade))
        ft = c + (foot - c) * (1 - (1 - self.taper) * z1 / max(self.height, 1))
        _fill(
            img,
            self.cam.project(np.c_[ft, np.full(len(ft), z1)]),
            tuple(float(v) for v in color * shade_top),
        )

    def render(self, i: int, *, failure: bool = True) -> Image:
        """Frame i; with `failure` False, the same print as if it had not failed (a label)."""
        img: MatLike = self.background.copy()
        layer = int(self.layer_at[i])
        failing = failure and self.onset is not None and i >= self.onset
        kind = self.seq.kind
        if failing and kind != "detachment" and self.onset is not None:
            layer = int(self.layer_at[self.onset])  # the part stops growing once the print fails
        z = (layer + 1) * self.layer_h
        col = self.filament
        # Brim (first layer loops).
        if self.brim:
            c = self.center
            outer = c + (self.footprint - c) * (1 + 0.08 * self.brim)
            _fill(
                img,
                self.cam.project(np.c_[outer, np.zeros(len(outer))]),
                tuple(float(v) for v in col * 0.85),
            )
        # Part (possibly detached).
        foot = self.footprint
        visible = True
        if failing and kind == "detachment":
            k = min(1.0, (i - (self.onset or 0) + 1) / 3)  # dragged over up to 3 frames
            if self.detach_mode == "vanish":
                visible = k < 1.0
                foot = foot + self.detach_shift * k * 3
            else:
                ang = self.detach_angle * k if self.detach_mode == "tip" else 0.0
                rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
                c = foot.mean(axis=0)
                foot = (foot - c) @ rot.T + c + self.detach_shift * k
            layer = int(self.layer_at[self.onset or 0])
            z = (layer + 1) * self.layer_h
        if self.second is not None:
            self._prism(img, self.second, 0.0, min(z, self.height * 0.4), col, 0.95)
        for sup in self.supports:
            self._prism(img, sup, 0.0, z * 0.8, col * 0.9, 1.0)
        if visible:
            self._prism(img, foot, 0.0, z, col, 1.0)
            # The current layer's infill lines (from the G-code) on the top face.
            pts = self.path.layer_points[min(layer, len(self.path.layer_points) - 1)]
            if len(pts) > 1 and kind != "detachment":
                cpts = self.cam.project(np.c_[pts, np.full(len(pts), z)])
                cv2.polylines(
                    img,
                    [np.round(cpts * 16).astype(np.int32)],
                    False,
                    tuple(float(v) for v in col * 0.9),
                    1,
                    cv2.LINE_AA,
                    4,
                )
        # Stringing.
        for start, pair in self.strings:
            if i >= start:
                zz = min(z, self.height * 0.4) * 0.8
                p = self.cam.project(np.c_[pair, [zz, zz]])
                cv2.polylines(
                    img,
                    [np.round(p * 16).astype(np.int32)],
                    False,
                    tuple(float(v) for v in col),
                    1,
                    cv2.LINE_AA,
                    4,
                )
        # Spaghetti strands deposited so far.
        if self.strands and failing:
            for start, spts, color, thick in self.strands:
                if start <= i:
                    cv2.polylines(img, [spts], False, color, thick, cv2.LINE_AA, 4)
        # Hotend (parked while paused), with a blob if one is growing.
        self._hotend(img, self.hotend_pos(i, failing=failing), i, failing and kind == "blob")
        # Hands reaching in.
        for start, end, tip in self.hands:
            if start <= i < end:
                self._hand(img, tip)
        img = self._lighting(img, i)
        # Sensor noise (one of a few precomputed fields, shifted), then camera shake.
        k = int(self.noise_pick[i])
        pos, neg = self.noise_fields[k]
        img = cv2.subtract(cv2.add(img, pos), neg)
        dx, dy = self.shake[i]
        if abs(dx) > 0.05 or abs(dy) > 0.05:
            m = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
            img = cv2.warpAffine(img, m, (self.w, self.h), borderMode=cv2.BORDER_REPLICATE)
        return img

    def hotend_pos(self, i: int, *, failing: bool) -> Points:
        """The nozzle tip in frame i (bed mm): on the toolpath, parked while paused."""
        # A failed print stops growing (a detached part at its onset's layer too).
        layer = int(self.layer_at[self.onset if failing and self.onset is not None else i])
        z = (layer + 1) * self.layer_h
        if self._paused(i):
            return np.array([*self.park, z + 30])
        return np.array([*self.hotend_xy[i], z + 0.4])

    def _hotend(self, img: Image, pos: Points, i: int, blob: bool) -> None:
        x, y, z = pos
        _fill(img, self.cam.project(_hotend_body(x, y, z)), (35.0, 35.0, 38.0))
        nozzle = np.array([[x - 3, y - 3, z + 6], [x + 3, y - 3, z + 6], [x, y, z]])
        _fill(img, self.cam.project(nozzle), (40.0, 120.0, 180.0))
        if self.moving_cable:
            p0 = self.cam.project(np.array([[x, y, z + 40]]))[0]
            p1 = self.cam.project(np.array([[x * 0.5 + 55, y * 0.5 + 110, z + 120]]))[0]
            cv2.line(
                img,
                tuple(np.round(p0).astype(int)),
                tuple(np.round(p1).astype(int)),
                (20, 20, 20),
                max(1, round(2 * self.s)),
                cv2.LINE_AA,
            )
        if blob and self.onset is not None:
            r = min(16.0, 1.5 + self.blob_rate * (i - self.onset + 1))
            rng = np.random.default_rng([self.fail_rng_seed, 1])
            ang = np.linspace(0, 2 * math.pi, 14, endpoint=False)
            rr = r * (1 + 0.25 * rng.uniform(-1, 1, len(ang)))
            pts = np.c_[x + rr * np.cos(ang), y - 8 + 0 * ang, z + 3 + rr * np.sin(ang) * 0.8]
            _fill(img, self.cam.project(pts), tuple(float(v) for v in self.filament * 0.9))

    def _hand(self, img: Image, tip: Points) -> None:
        wrist = np.array([tip[0] + 30, -40.0, tip[2] + 60])
        pts = np.array(
            [
                tip + np.array([-12, 0, 0]),
                tip + np.array([12, 0, 0]),
                wrist + np.array([20, 0, 0]),
                wrist + np.array([-20, 0, 0]),
            ]
        )
        _fill(img, self.cam.project(pts), (120.0, 150.0, 200.0))

    def _lighting(self, img: Image, i: int) -> Image:
        gain = 1 + self.drift_amp * math.sin(2 * math.pi * i / self.drift_period + self.drift_phase)
        grad = 0.0
        for frame, g, gr in self.light_steps:
            if i >= frame:
                gain *= g
                grad += gr
        if grad:
            ramp = np.linspace(1 - grad, 1 + grad, self.w, dtype=np.float32)[None, :, None] * gain
            out: Image = cv2.multiply(
                img, np.broadcast_to(ramp, img.shape).astype(np.float32), dtype=cv2.CV_8U
            )
            return out
        return cv2.convertScaleAbs(img, alpha=gain)


def _hotend_body(x: float, y: float, z: float) -> Points:
    """The hotend's box (24 x 24 x 34 mm), its bottom 6 mm above the nozzle tip at z."""
    return np.array(
        [
            [x - 12, y - 10, z + 6],
            [x + 12, y - 10, z + 6],
            [x + 12, y - 10, z + 40],
            [x - 12, y - 10, z + 40],
            [x - 12, y + 14, z + 40],
            [x + 12, y + 14, z + 40],
            [x + 12, y + 14, z + 6],
            [x - 12, y + 14, z + 6],
        ]
    )


def _fill_f(img: npt.NDArray[np.float32], pts: Points, color: tuple[float, ...]) -> None:
    cv2.fillConvexPoly(img, _hull(pts), color, cv2.LINE_AA, 4)
