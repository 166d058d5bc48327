"""Parametric CadQuery templates. Pure geometry: takes a resolved PartSpec, returns named solids.

No I/O here; `geometry.py` validates and exports. Each builder gets millimetres that `parts.resolve`
has already checked, so a build failure here is a bug, not bad input.
"""

from __future__ import annotations

from collections.abc import Callable
import math

import cadquery as cq

from .errors import UnknownPartError
from .parts import PartSpec

Bodies = dict[str, cq.Workplane]


def _bracket(p: dict[str, float]) -> Bodies:
    w, h, d, t = p["width"], p["height"], p["depth"], p["thickness"]
    body = (
        cq.Workplane("XZ")
        .polyline([(0, 0), (d, 0), (d, t), (t, t), (t, h), (0, h)])
        .close()
        .extrude(-w)
    )
    fillet = min(t * 0.8, 3.0)
    inner_corner = cq.selectors.NearestToPointSelector((t, w / 2, t))  # type: ignore[no-untyped-call]
    body = body.edges("|Y").edges(inner_corner).fillet(fillet)
    holes = int(p["holes"])
    if holes and p["hole_diameter"] > 0:
        per_leg = max(1, holes // 2)
        xs = [t + (d - t) * (i + 1) / (per_leg + 1) for i in range(per_leg)]
        zs = [t + (h - t) * (i + 1) / (per_leg + 1) for i in range(per_leg)]
        body = (
            body.faces("<Z")
            .workplane(centerOption="CenterOfBoundBox")
            .pushPoints([(x - d / 2, 0) for x in xs])
            .hole(p["hole_diameter"])
        )
        body = (
            body.faces("<X")
            .workplane(centerOption="CenterOfBoundBox")
            .pushPoints([(0, z - h / 2) for z in zs])
            .hole(p["hole_diameter"])
        )
    return {"bracket": body}


def _pipe_bracket(p: dict[str, float]) -> Bodies:
    """Saddle clamp: feet flat on the wall (z = 0), legs up to the pipe's centre, a half ring over it.

    The pipe touches the wall (or sits `standoff` away from it): its axis runs along Y at height
    pipe radius + standoff.
    """
    r_in = p["pipe_diameter"] / 2
    t, w, hole = p["thickness"], p["width"], p["hole_diameter"]
    r_out = r_in + t
    centre = r_in + p["standoff"]
    foot = max(hole * 2.5, 3 * t)
    ring = cq.Workplane("XZ").circle(r_out).circle(r_in).extrude(w / 2, both=True)
    lower_half = cq.Workplane("XY").box(4 * r_out, 2 * w, 2 * r_out, centered=(True, True, False))
    arch = ring.cut(lower_half.translate((0, 0, -2 * r_out))).translate((0, 0, centre))
    legs = (
        cq.Workplane("XY")
        .pushPoints([(-(r_in + t / 2), 0), (r_in + t / 2, 0)])
        .box(t, w, centre, centered=(True, True, False))
    )
    feet_at = [(-(r_out + foot / 2), 0), (r_out + foot / 2, 0)]
    feet = cq.Workplane("XY").pushPoints(feet_at).box(foot, w, t, centered=(True, True, False))
    body = arch.union(legs).union(feet)
    body = (
        body.faces("<Z").workplane(centerOption="CenterOfBoundBox").pushPoints(feet_at).hole(hole)
    )
    return {"pipe_bracket": body}


def _enclosure(p: dict[str, float]) -> Bodies:
    length, width, height, wall = p["length"], p["width"], p["height"], p["wall"]
    boss_r = 2.5 * wall
    screw = max(1.6, wall)
    inset = (
        wall + 0.7 * boss_r
    )  # bosses merge into the walls (a tangent contact meshes non-manifold)
    corners = [
        (sx * (length / 2 - inset), sy * (width / 2 - inset)) for sx in (-1, 1) for sy in (-1, 1)
    ]
    box = cq.Workplane("XY").box(length, width, height, centered=(True, True, False))
    box = box.faces(">Z").shell(-wall)
    bosses = (
        cq.Workplane("XY")
        .workplane(offset=wall)
        .pushPoints(corners)
        .circle(boss_r)
        .circle(screw / 2)
        .extrude(height - 2 * wall)
    )
    box = box.union(bosses)
    lid = cq.Workplane("XY").box(length, width, wall, centered=(True, True, False))
    lip_clear = 0.2
    lip = (
        cq.Workplane("XY")
        .workplane(offset=-wall)
        .rect(length - 2 * wall - 2 * lip_clear, width - 2 * wall - 2 * lip_clear)
        .rect(length - 4 * wall, width - 4 * wall)
        .extrude(wall)
    )
    lid = lid.union(lip)
    lid = lid.faces(">Z").workplane().pushPoints(corners).cskHole(screw * 1.1, screw * 2.2, 90)
    return {"box": box, "lid": lid}


def _spacer(p: dict[str, float]) -> Bodies:
    body = cq.Workplane("XY").circle(p["outer_diameter"] / 2).extrude(p["height"])
    if p["inner_diameter"] > 0:
        body = body.faces(">Z").workplane().hole(p["inner_diameter"])
    return {"spacer": body}


def _plate(p: dict[str, float]) -> Bodies:
    length, width = p["length"], p["width"]
    body = cq.Workplane("XY").box(length, width, p["thickness"], centered=(True, True, False))
    holes = int(p["holes"])
    if holes and p["hole_diameter"] > 0:
        cols = max(1, round(math.sqrt(holes * length / width)))
        rows = math.ceil(holes / cols)
        margin = max(p["hole_diameter"], 3.0)
        sx = (length - 2 * margin) / max(cols - 1, 1)
        sy = (width - 2 * margin) / max(rows - 1, 1)
        pts = [
            (
                -length / 2 + margin + c * sx if cols > 1 else 0.0,
                -width / 2 + margin + r * sy if rows > 1 else 0.0,
            )
            for r in range(rows)
            for c in range(cols)
        ][:holes]
        body = body.faces(">Z").workplane().pushPoints(pts).hole(p["hole_diameter"])
    return {"plate": body}


def _involute_profile(module: float, teeth: int, samples: int = 6) -> list[tuple[float, float]]:
    """Closed outline of a spur gear (20° pressure angle) as points; splined per flank by the caller."""
    pa = math.radians(20)
    r_pitch = module * teeth / 2
    r_base = r_pitch * math.cos(pa)
    r_add = r_pitch + module
    r_root = max(r_pitch - 1.25 * module, 0.5 * r_base)

    def inv(a: float) -> float:
        return math.tan(a) - a

    half_tooth = math.pi / (2 * teeth) + inv(pa)
    pts: list[tuple[float, float]] = []
    r_start = max(r_base, r_root)
    for k in range(teeth):
        centre = 2 * math.pi * k / teeth
        flank: list[tuple[float, float]] = []
        for i in range(samples + 1):
            r = r_start + (r_add - r_start) * i / samples
            alpha = math.acos(min(1.0, r_base / r))
            flank.append((r, half_tooth - inv(alpha)))
        root_a = centre - half_tooth - math.pi / teeth * 0.3
        pts.append((r_root * math.cos(root_a), r_root * math.sin(root_a)))
        pts += [(r * math.cos(centre - a), r * math.sin(centre - a)) for r, a in flank]
        pts += [(r * math.cos(centre + a), r * math.sin(centre + a)) for r, a in reversed(flank)]
        root_b = centre + half_tooth + math.pi / teeth * 0.3
        pts.append((r_root * math.cos(root_b), r_root * math.sin(root_b)))
    return pts


def _gear(p: dict[str, float]) -> Bodies:
    pts = _involute_profile(p["module"], int(p["teeth"]))
    body = cq.Workplane("XY").polyline(pts).close().extrude(p["thickness"])
    if p["bore"] > 0:
        body = body.faces(">Z").workplane().hole(p["bore"])
    return {"gear": body}


def _hook(p: dict[str, float]) -> Bodies:
    w, t, h, reach, hole = p["width"], p["thickness"], p["height"], p["reach"], p["hole_diameter"]
    back = cq.Workplane("XY").box(w, t, h, centered=(True, False, False))
    arm_len = reach - t
    arm = cq.Workplane("XY").box(w, arm_len, t, centered=(True, False, False)).translate((0, t, 0))
    r_out = min(reach / 3, h / 4)
    tip = (
        cq.Workplane("XY")
        .box(w, t, r_out + t, centered=(True, False, False))
        .translate((0, reach - t, 0))
    )
    body = back.union(arm).union(tip)
    body = (
        body.faces("<Y")
        .workplane(centerOption="CenterOfBoundBox")
        .pushPoints([(0, h * 0.25), (0, h * 0.05)])
        .cskHole(hole, hole * 2, 90)
    )
    return {"hook": body}


BUILDERS: dict[str, Callable[[dict[str, float]], Bodies]] = {
    "bracket": _bracket,
    "pipe_bracket": _pipe_bracket,
    "enclosure": _enclosure,
    "spacer": _spacer,
    "plate": _plate,
    "gear": _gear,
    "hook": _hook,
}


def build(spec: PartSpec) -> Bodies:
    """Named bodies of a resolved spec (an enclosure gives `box` and `lid`)."""
    builder = BUILDERS.get(spec.kind)
    if builder is None:
        raise UnknownPartError(f"unknown part kind {spec.kind!r}")
    return builder(dict(spec.params))
