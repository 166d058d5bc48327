"""Run the detector over labelled synthetic sequences and score it (pure).

Used by the benchmark and the tests. Job pause/resume events in a sequence reset the detector,
as the monitor does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields
import math
from typing import Any

from .detector import Detector, DetectorConfig, Level
from .frames import decode
from .learned import Decision, TreeModel
from .synth import FILAMENT_NAMES, FRAME_INTERVAL_S, Sequence, filament_name, rendered_hotend_area

# Bands of measured / rendered hotend size for recall_by_calibration: a hotend calibrated at
# under half its size (a fragment of it moved while calibrating) leaves the blob features
# reading the wrong pixels.
CALIBRATION_EDGES = (0.5, 0.75, 1.5)


def config_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """`name=value` pairs as DetectorConfig keyword arguments, each typed as its field's default.

    For the benchmarks' `--detector` (a candidate detector measured without editing defaults).
    Raises ValueError naming the pair that is not a settable field or not of its field's type.
    """
    defaults = {f.name: f.default for f in fields(DetectorConfig) if f.default is not MISSING}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        default = defaults.get(name, MISSING)
        if not sep or default is MISSING or name == "roi":
            settable = ", ".join(sorted(n for n in defaults if n != "roi"))
            raise ValueError(f"{pair!r}: expected NAME=VALUE with NAME one of {settable}")
        text = text.strip()
        try:
            out[name] = _typed(text, default)
        except ValueError:
            kind = type(default).__name__
            raise ValueError(f"{pair!r}: {name} expects {kind}, got {text!r}") from None
    DetectorConfig(**out)  # the config's own checks, naming the field
    return out


def _typed(text: str, default: object) -> object:
    """`text` as the type of `default` (str where the default is None); ValueError if not."""
    if isinstance(default, bool):
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return text.lower() in ("true", "1")
    if isinstance(default, (int, float)):
        return type(default)(text)
    return text


@dataclass(slots=True)
class SequenceOutcome:
    """What the detector did on one sequence."""

    kind: str
    seed: int
    onset: int | None
    frames: int
    watched_frames: int  # frames seen while the printer was printing
    first_pause: int | None  # frame index of the first pause decision
    first_warning: int | None
    early_pause: bool  # a pause before the onset (a false pause on a failing print)
    named: str | None = None  # the kind the detector named at the first pause (the event's)
    # The detector's calibrated hotend size over the rendered one (1.0: right; None: never
    # calibrated). Blob features read the hotend's calibrated look, so recall is split by it.
    calibration: float | None = None
    filament: str | None = None  # the print's filament colour (synth.FILAMENT_NAMES)

    @property
    def caught(self) -> bool:
        """A pause at or after the onset."""
        return self.onset is not None and self.first_pause is not None and not self.early_pause

    @property
    def delay_s(self) -> float | None:
        """Seconds from onset to pause."""
        if not self.caught or self.onset is None or self.first_pause is None:
            return None
        return (self.first_pause - self.onset + 1) * FRAME_INTERVAL_S


def run_sequence(seq: Sequence, config: DetectorConfig | None = None) -> SequenceOutcome:
    """Feed every frame (decode included); stop at the first pause, as a real printer would."""
    return run_both(seq, config, baseline=False)[0]


def run_both(
    seq: Sequence, config: DetectorConfig | None = None, *, baseline: bool = True
) -> tuple[SequenceOutcome, SequenceOutcome]:
    """The detector's outcome and, from the same frames, its handcrafted rule's (the baseline).

    The frames are fed until both have paused (each outcome counts only its first pause);
    without `baseline`, until the detector pauses (the second outcome is then partial).
    """
    ours, hand, *_ = run_all(seq, config, baseline=baseline)
    return ours, hand


def run_all(
    seq: Sequence,
    config: DetectorConfig | None = None,
    *,
    baseline: bool = True,
    compare: tuple[TreeModel, ...] = (),
) -> list[SequenceOutcome]:
    """As run_both, plus one outcome per `compare` model decided on the detector's features.

    Each compared model gets its own `learned.Decision`, stepped on exactly the frames and
    features the detector's own learned layer sees (made anew when the detector resets), so
    two models are compared on the same frames at the cost of one pass. Frames are fed until
    every outcome has paused.
    """
    cfg = config or DetectorConfig()
    det = Detector(cfg)
    n = 2 + len(compare)
    pause: list[int | None] = [None] * n
    warning: list[int | None] = [None] * n
    named: list[str | None] = [None] * n

    def fresh() -> list[Decision]:
        return [Decision(m, cfg.pause_level, cfg.pause_frames) for m in compare]

    others = fresh()
    watched = [0] * n
    width = 0
    for frame in seq.frames():
        if frame.event is not None:
            det.reset()
            others = fresh()
        if frame.paused:
            continue
        for i in range(n):
            watched[i] += pause[i] is None
        image, _ = decode(frame.jpeg, color=True)
        width = image.shape[1]
        result = det.process(image, now=frame.index * FRAME_INTERVAL_S)
        hand = result.handcrafted or result.level
        levels = [result.level, hand]
        for other in others:
            if hand is Level.CALIBRATING:
                levels.append(hand)
            else:
                name, _, _ = other.step(result.features, result.scene_change, result.ewma)
                levels.append(Level(name))
        for i, level in enumerate(levels):
            if pause[i] is not None:
                continue
            if level in (Level.WARNING, Level.PAUSE) and warning[i] is None:
                warning[i] = frame.index
            if level is Level.PAUSE:
                pause[i] = frame.index
                named[i] = result.kind
        if all(p is not None for i, p in enumerate(pause) if i != 1 or baseline):
            break
    size = det.hotend_area
    calibration = size / rendered_hotend_area(seq, width) if size is not None and width else None
    filament = filament_name(seq)
    outcomes = []
    for i in range(n):
        first = pause[i]
        early = first is not None and (seq.onset is None or first < seq.onset)
        outcomes.append(
            SequenceOutcome(
                seq.kind,
                seq.seed,
                seq.onset,
                seq.length,
                watched[i],
                first,
                warning[i],
                early,
                named[i],
                calibration,
                filament,
            )
        )
    return outcomes


@dataclass(slots=True)
class Summary:
    """Aggregates over many sequences."""

    outcomes: list[SequenceOutcome] = field(default_factory=list)

    def add(self, items: Iterable[SequenceOutcome]) -> None:
        """Collect outcomes."""
        self.outcomes.extend(items)

    def recall(self, kind: str) -> tuple[int, int]:
        """(caught, total) for one failure kind."""
        rows = [o for o in self.outcomes if o.kind == kind]
        return sum(o.caught for o in rows), len(rows)

    def named(self, kind: str) -> Counter[str]:
        """The kinds named at the pauses that caught failures labelled `kind` (None: "none")."""
        return Counter(o.named or "none" for o in self.outcomes if o.kind == kind and o.caught)

    def recall_by_calibration(
        self, kind: str, edges: tuple[float, ...] = CALIBRATION_EDGES
    ) -> list[tuple[float, float, int, int]]:
        """(low, high, caught, total) per band of `calibration`, for one failure kind.

        Sequences never calibrated fall in the lowest band.
        """
        bands = list(zip((0.0, *edges), (*edges, math.inf), strict=True))
        out = []
        for low, high in bands:
            rows = [
                o for o in self.outcomes if o.kind == kind and low <= (o.calibration or 0.0) < high
            ]
            out.append((low, high, sum(o.caught for o in rows), len(rows)))
        return out

    def recall_by_filament(self, kind: str) -> list[tuple[str, int, int]]:
        """(colour, caught, total) per filament colour (`synth.FILAMENT_NAMES`), for one kind.

        Outcomes without a colour are left out.
        """
        out = []
        for name in FILAMENT_NAMES:
            rows = [o for o in self.outcomes if o.kind == kind and o.filament == name]
            out.append((name, sum(o.caught for o in rows), len(rows)))
        return out

    def false_pauses(self) -> tuple[int, float]:
        """(false pauses, print-hours watched): pauses on negatives plus pauses before an onset."""
        seconds = 0.0
        for o in self.outcomes:
            if o.onset is None:
                seconds += o.watched_frames * FRAME_INTERVAL_S
            else:
                # Only the healthy part of a failing print counts as print time here.
                seconds += min(o.onset, o.watched_frames) * FRAME_INTERVAL_S
        return len(self.false_paused()), seconds / 3600.0

    def false_paused(self) -> list[SequenceOutcome]:
        """The sequences counted as false pauses, to be looked at again by kind and seed.

        A negative that paused, or a failing print paused before its onset.
        """
        return [
            o
            for o in self.outcomes
            if o.early_pause or (o.onset is None and o.first_pause is not None)
        ]

    def missed(self) -> list[SequenceOutcome]:
        """The failures not caught (never paused, or paused only before the onset), to replay."""
        return [o for o in self.outcomes if o.onset is not None and not o.caught]

    def delays(self) -> list[float]:
        """Onset-to-pause delays (s) of the caught failures."""
        return sorted(d for o in self.outcomes if (d := o.delay_s) is not None)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN when there are no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]
