"""Part kinds, their parameters, and reading them from a request sentence. Pure: no CAD, no I/O.

`parse_request("make me a wall bracket for a 40 mm pipe, 3 mm thick")` gives
`PartSpec("pipe_bracket", {"pipe_diameter": 40.0, "thickness": 3.0, ...})` with every other
parameter at its default, and `resolve()` rejects dimensions that cannot be built, each with a
sentence naming the parameter and the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import math
import re
from typing import Final

from .errors import InvalidRequestError, UnknownPartError

MAX_SIZE_MM: Final = 1000.0  # a workshop printer / CNC envelope; anything bigger is a typo
MIN_FEATURE_MM: Final = 0.4  # one nozzle width: thinner walls do not print


@dataclass(frozen=True, slots=True)
class Param:
    """One numeric parameter: default and allowed range (millimetres unless `unit` says otherwise)."""

    default: float
    minimum: float
    maximum: float
    unit: str = "mm"
    integer: bool = False


@dataclass(frozen=True, slots=True)
class PartKind:
    """A template: what it is, its parameters, and the cross-parameter rules it needs."""

    name: str
    description: str
    params: Mapping[str, Param]
    rules: tuple[Callable[[Mapping[str, float]], str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class PartSpec:
    """A part kind with concrete parameters (after `resolve`, complete and validated)."""

    kind: str
    params: dict[str, float] = field(default_factory=dict)


def _rule(
    check: Callable[[Mapping[str, float]], bool], message: str
) -> Callable[[Mapping[str, float]], str | None]:
    def run(p: Mapping[str, float]) -> str | None:
        return None if check(p) else message.format(**p)

    return run


def _size(default: float, minimum: float = MIN_FEATURE_MM) -> Param:
    return Param(default, minimum, MAX_SIZE_MM)


KINDS: Final[dict[str, PartKind]] = {
    "bracket": PartKind(
        "bracket",
        "L-shaped angle bracket with mounting holes in both legs",
        {
            "width": _size(40.0, 5.0),
            "height": _size(60.0, 5.0),
            "depth": _size(40.0, 5.0),
            "thickness": _size(5.0),
            "hole_diameter": Param(5.5, 0.0, 100.0),
            "holes": Param(2, 0, 8, unit="", integer=True),
        },
        (
            _rule(
                lambda p: p["thickness"] < min(p["height"], p["depth"]),
                "thickness {thickness:g} mm must be less than both legs (height {height:g} mm, depth {depth:g} mm)",
            ),
            _rule(
                lambda p: p["hole_diameter"] <= p["width"] / 2 - 1.0 or p["holes"] == 0,
                "hole diameter {hole_diameter:g} mm does not fit a {width:g} mm wide bracket",
            ),
        ),
    ),
    "pipe_bracket": PartKind(
        "pipe_bracket",
        "wall bracket (saddle clamp) for a round pipe, with two screw holes",
        {
            "pipe_diameter": Param(40.0, 3.0, 500.0),
            "thickness": _size(3.0),
            "width": _size(20.0, 4.0),
            "hole_diameter": Param(5.0, 1.0, 30.0),
            "standoff": Param(0.0, 0.0, 200.0),
        },
        (
            _rule(
                lambda p: p["hole_diameter"] < p["width"] - 2 * MIN_FEATURE_MM,
                "hole diameter {hole_diameter:g} mm does not fit a {width:g} mm wide strap",
            ),
            _rule(
                lambda p: p["thickness"] <= p["pipe_diameter"] / 2,
                "thickness {thickness:g} mm is more than half the pipe diameter {pipe_diameter:g} mm",
            ),
        ),
    ),
    "enclosure": PartKind(
        "enclosure",
        "box with screw bosses and a matching lid with a locating lip",
        {
            "length": _size(80.0, 10.0),
            "width": _size(60.0, 10.0),
            "height": _size(30.0, 5.0),
            "wall": Param(2.0, 0.8, 20.0),
        },
        (
            _rule(
                lambda p: 2 * p["wall"] + 6 * p["wall"] < min(p["length"], p["width"]),
                "walls of {wall:g} mm leave no room inside {length:g} x {width:g} mm",
            ),
            _rule(
                lambda p: p["wall"] * 2 < p["height"],
                "walls of {wall:g} mm are too thick for a {height:g} mm high box",
            ),
        ),
    ),
    "spacer": PartKind(
        "spacer",
        "round spacer / standoff with a through hole",
        {
            "outer_diameter": Param(10.0, 1.0, MAX_SIZE_MM),
            "inner_diameter": Param(5.2, 0.0, MAX_SIZE_MM),
            "height": _size(10.0),
        },
        (
            _rule(
                lambda p: p["outer_diameter"] - p["inner_diameter"] >= 2 * MIN_FEATURE_MM,
                "inner diameter {inner_diameter:g} mm leaves no wall in an outer diameter of {outer_diameter:g} mm",
            ),
        ),
    ),
    "plate": PartKind(
        "plate",
        "flat plate with a grid of holes",
        {
            "length": _size(100.0, 2.0),
            "width": _size(60.0, 2.0),
            "thickness": _size(3.0),
            "hole_diameter": Param(4.0, 0.0, 200.0),
            "holes": Param(4, 0, 400, unit="", integer=True),
        },
        (
            _rule(
                lambda p: p["holes"] == 0 or p["hole_diameter"] < min(p["length"], p["width"]) / 2,
                "holes of {hole_diameter:g} mm do not fit a {length:g} x {width:g} mm plate",
            ),
        ),
    ),
    "gear": PartKind(
        "gear",
        "spur gear (involute teeth) with a bore",
        {
            "module": Param(2.0, 0.3, 20.0),
            "teeth": Param(24, 6, 200, unit="", integer=True),
            "thickness": _size(8.0, 1.0),
            "bore": Param(6.0, 0.0, MAX_SIZE_MM),
        },
        (
            _rule(
                lambda p: p["bore"] < p["module"] * (p["teeth"] - 2.5) - 2 * MIN_FEATURE_MM,
                "bore {bore:g} mm is larger than the root circle of a module {module:g}, {teeth:g}-tooth gear",
            ),
        ),
    ),
    "hook": PartKind(
        "hook",
        "wall hook: a back plate with two screw holes and a curled arm",
        {
            "width": _size(20.0, 5.0),
            "thickness": _size(4.0, 1.0),
            "height": _size(60.0, 15.0),
            "reach": _size(30.0, 5.0),
            "hole_diameter": Param(4.0, 1.0, 20.0),
        },
        (
            _rule(
                lambda p: p["hole_diameter"] < p["width"] - 2,
                "hole diameter {hole_diameter:g} mm does not fit a {width:g} mm wide hook",
            ),
            _rule(
                lambda p: p["thickness"] * 2 < p["reach"],
                "a {thickness:g} mm thick arm cannot curl within a {reach:g} mm reach",
            ),
        ),
    ),
}

# Words that name a kind, most specific first (the pipe bracket before the plain bracket).
_KIND_WORDS: Final[tuple[tuple[str, str], ...]] = (
    ("pipe_bracket", r"pipe|tube|conduit|saddle|clamp"),
    ("enclosure", r"enclosure|box|case|housing"),
    ("spacer", r"spacer|standoff|stand-off|bushing|washer"),
    ("gear", r"gear|cog|sprocket"),
    ("hook", r"hook|hanger"),
    ("plate", r"plate|panel|sheet|mount(?:ing)? plate"),
    ("bracket", r"bracket|angle|l-bracket"),
)
_UNITS: Final = {
    "mm": 1.0,
    "cm": 10.0,
    "m": 1000.0,
    "in": 25.4,
    "inch": 25.4,
    "inches": 25.4,
    '"': 25.4,
}
_NUM: Final = r"(\d+(?:\.\d+)?)"
_UNIT: Final = r"\s*(mm|cm|inches|inch|in|m|\")?"


def kind_of(text: str) -> str | None:
    """The part kind a sentence names, or None."""
    low = text.lower()
    for kind, words in _KIND_WORDS:
        if re.search(rf"\b(?:{words})", low):
            return kind
    return None


def _mm(value: str, unit: str | None) -> float:
    return float(value) * _UNITS.get((unit or "mm").lower(), 1.0)


def _find(text: str, patterns: tuple[str, ...]) -> float | None:
    for pattern in patterns:
        if match := re.search(pattern, text):
            groups = match.groups()
            return _mm(groups[0], groups[1] if len(groups) > 1 else None)
    return None


def extract_params(kind: str, text: str) -> dict[str, float]:
    """Dimensions the sentence states for this kind (only those it states)."""
    low = text.lower().replace("\u00d7", "x")  # the multiplication sign
    found: dict[str, float] = {}

    def put(name: str, *patterns: str) -> None:
        if name in KINDS[kind].params and name not in found:
            value = _find(low, patterns)
            if value is not None:
                found[name] = value

    # "80x60x30 mm" / "100 x 60": length x width (x height)
    if box := re.search(rf"{_NUM}\s*x\s*{_NUM}(?:\s*x\s*{_NUM})?{_UNIT}", low):
        unit = box.group(4)
        dims = [g for g in box.groups()[:3] if g is not None]
        names = {
            "enclosure": ("length", "width", "height"),
            "plate": ("length", "width", "thickness"),
            "bracket": ("width", "height", "depth"),
        }.get(kind, ())
        for name, value in zip(names, dims, strict=False):
            found[name] = _mm(value, unit)
    put(
        "pipe_diameter",
        rf"{_NUM}{_UNIT}\s*(?:diameter\s*|dia\.?\s*|od\s*)?(?:pipe|tube|conduit)",
        rf"(?:pipe|tube)\s*(?:of\s*)?{_NUM}{_UNIT}",
    )
    put("thickness", rf"{_NUM}{_UNIT}\s*thick", rf"thickness\s*(?:of\s*)?{_NUM}{_UNIT}")
    put("wall", rf"{_NUM}{_UNIT}\s*walls?", rf"walls?\s*(?:thickness\s*)?(?:of\s*)?{_NUM}{_UNIT}")
    put(
        "hole_diameter",
        r"\bm(\d+(?:\.\d+)?)\b(?!\s*x)",
        rf"{_NUM}{_UNIT}\s*(?:screw\s*)?holes?",
        rf"holes?\s*(?:of\s*)?{_NUM}{_UNIT}",
    )
    put("module", r"module\s*(\d+(?:\.\d+)?)", r"\bm\s*=\s*(\d+(?:\.\d+)?)")
    put("bore", rf"{_NUM}{_UNIT}\s*bore", rf"bore\s*(?:of\s*)?{_NUM}{_UNIT}")
    put(
        "outer_diameter",
        rf"{_NUM}{_UNIT}\s*(?:outer|outside|od)",
        rf"(?:outer|outside)\s*diameter\s*(?:of\s*)?{_NUM}{_UNIT}",
        rf"{_NUM}{_UNIT}\s*(?:diameter|dia)",
    )
    put(
        "inner_diameter",
        rf"{_NUM}{_UNIT}\s*(?:inner|inside|id)\b",
        rf"(?:inner|inside)\s*diameter\s*(?:of\s*)?{_NUM}{_UNIT}",
        r"for\s*(?:an?\s*)?m(\d+(?:\.\d+)?)",
    )
    put(
        "height",
        rf"{_NUM}{_UNIT}\s*(?:high|tall|long)",
        rf"(?:height|length)\s*(?:of\s*)?{_NUM}{_UNIT}",
    )
    put("width", rf"{_NUM}{_UNIT}\s*wide", rf"width\s*(?:of\s*)?{_NUM}{_UNIT}")
    put("reach", rf"{_NUM}{_UNIT}\s*(?:reach|deep|projection)", rf"reach\s*(?:of\s*)?{_NUM}{_UNIT}")
    put("length", rf"{_NUM}{_UNIT}\s*long", rf"length\s*(?:of\s*)?{_NUM}{_UNIT}")
    if "teeth" in KINDS[kind].params and (m := re.search(r"(\d+)\s*(?:teeth|tooth|t\b)", low)):
        found["teeth"] = float(m.group(1))
    if "holes" in KINDS[kind].params and (
        m := re.search(r"(\d+)\s*(?:x\s*)?(?:m\d+\s*)?(?:screw\s*)?holes", low)
    ):
        found["holes"] = float(m.group(1))
    return found


def parse_request(text: str, kind: str | None = None) -> PartSpec:
    """Kind (given, or read from the sentence) and the dimensions the sentence states."""
    if not text.strip() and kind is None:
        raise InvalidRequestError("the request is empty: say what part to make")
    chosen = kind or kind_of(text)
    if chosen is None:
        raise UnknownPartError(
            f"no template for {text.strip()!r}: known parts are {', '.join(sorted(KINDS))}"
        )
    if chosen not in KINDS:
        raise UnknownPartError(
            f"unknown part kind {chosen!r}: known parts are {', '.join(sorted(KINDS))}"
        )
    return PartSpec(chosen, extract_params(chosen, text))


def resolve(spec: PartSpec) -> PartSpec:
    """Fill defaults and check every parameter; InvalidRequestError names each problem."""
    if spec.kind not in KINDS:
        raise UnknownPartError(
            f"unknown part kind {spec.kind!r}: known parts are {', '.join(sorted(KINDS))}"
        )
    kind = KINDS[spec.kind]
    unknown = sorted(set(spec.params) - set(kind.params))
    if unknown:
        raise InvalidRequestError(
            f"{spec.kind} has no parameter {', '.join(unknown)} (it has {', '.join(kind.params)})"
        )
    params: dict[str, float] = {}
    problems: list[str] = []
    for name, param in kind.params.items():
        raw = spec.params.get(name, param.default)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            problems.append(f"{name} must be a number, got {raw!r}")
            continue
        if not math.isfinite(value):
            problems.append(f"{name} must be a finite number")
            continue
        if param.integer:
            if value != int(value):
                problems.append(f"{name} must be a whole number, got {value:g}")
                continue
        if not param.minimum <= value <= param.maximum:
            unit = f" {param.unit}" if param.unit else ""
            problems.append(
                f"{name} {value:g}{unit} is impossible for a {spec.kind}: allowed {param.minimum:g} to {param.maximum:g}{unit}"
            )
            continue
        params[name] = value
    if not problems:
        problems = [msg for rule in kind.rules if (msg := rule(params)) is not None]
    if problems:
        raise InvalidRequestError("; ".join(problems))
    return PartSpec(spec.kind, params)
