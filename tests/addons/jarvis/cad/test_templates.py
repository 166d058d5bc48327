"""Every template builds in a forked child, exports STEP that re-imports as a valid solid and a
watertight STL, with dimensions the request asked for and a stable geometry hash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cadquery as cq
import pytest
import trimesh

from jarvis_addon.cad import geometry, parts

from .conftest import Ask


def build(
    forked: Ask, kind: str, params: dict[str, float], out: Path, stem: str = "part"
) -> dict[str, Any]:
    answer = forked(
        {"op": "template", "kind": kind, "params": params, "out_dir": str(out), "stem": stem}
    )
    assert answer["ok"], answer
    return dict(answer["result"])


@pytest.mark.parametrize("kind", sorted(parts.KINDS))
def test_template_exports_valid_step_and_watertight_stl(
    forked: Ask, kind: str, tmp_path: Path
) -> None:
    result = build(forked, kind, {}, tmp_path)
    assert result["kind"] == kind and result["versions"]["cadquery"].startswith("2.8")
    bodies = result["bodies"]
    assert len(bodies) == (2 if kind == "enclosure" else 1)
    for body in bodies:
        files = {f["format"]: Path(f["path"]) for f in body["files"]}
        shape = cq.importers.importStep(str(files["step"])).val()
        assert shape.isValid() and len(shape.Solids()) == 1
        assert shape.Volume() == pytest.approx(body["validation"]["volume"], rel=1e-9)
        mesh = trimesh.load(str(files["stl"]))
        assert mesh.is_watertight
        assert abs(mesh.volume) == pytest.approx(shape.Volume(), rel=2e-3)


def test_pipe_bracket_fits_the_pipe_it_was_asked_for(forked: Ask, tmp_path: Path) -> None:
    spec = parts.resolve(parts.parse_request("make me a wall bracket for a 40 mm pipe, 3 mm thick"))
    result = build(forked, spec.kind, spec.params, tmp_path)
    step = next(Path(f["path"]) for f in result["bodies"][0]["files"] if f["format"] == "step")
    shape = cq.importers.importStep(str(step)).val()
    bb = shape.BoundingBox()
    assert bb.zlen == pytest.approx(
        40 + 3, abs=1e-6
    )  # the pipe touches the wall; 3 mm over its top
    assert bb.ylen == pytest.approx(20.0, abs=1e-6)  # strap width default
    # A 40 mm pipe fits: its axis (z = 20) and the points where it touches the wall and the saddle
    # are free, the 3 mm band over it is material.
    for free in ((0, 0, 20), (0, 0, 0.5), (0, 0, 39.9), (19.9, 0, 20), (-19.9, 0, 20)):
        assert not shape.isInside(cq.Vector(*free)), free
    for solid in ((0, 0, 41.5), (21.5, 0, 20), (-21.5, 0, 10)):
        assert shape.isInside(cq.Vector(*solid)), solid


def test_enclosure_dimensions_and_lid(forked: Ask, tmp_path: Path) -> None:
    result = build(
        forked, "enclosure", {"length": 80, "width": 60, "height": 30, "wall": 2}, tmp_path
    )
    box, lid = result["bodies"]
    assert (box["body"], lid["body"]) == ("box", "lid")
    size = geometry.Validation(True, "solid", 0, tuple(box["validation"]["bbox"])).size  # type: ignore[arg-type]
    assert size == pytest.approx((80, 60, 30))


def test_geometry_hash_is_stable_across_exports(forked: Ask, tmp_path: Path) -> None:
    first = build(forked, "spacer", {}, tmp_path / "a")
    second = build(forked, "spacer", {}, tmp_path / "b")
    a = {f["format"]: f for f in first["bodies"][0]["files"]}
    b = {f["format"]: f for f in second["bodies"][0]["files"]}
    assert a["step"]["sha256"] == b["step"]["sha256"]
    assert a["stl"]["sha256"] == b["stl"]["sha256"]
    # Raw STEP bytes differ only in the volatile header fields the hash blanks.
    text = Path(a["step"]["path"]).read_text()
    assert (
        geometry.normalized_step_hash(text.replace("'2026", "'1999")) == a["step"]["sha256"]
        or "FILE_NAME" in text
    )
    changed = build(forked, "spacer", {"height": 11}, tmp_path / "c")
    assert {f["format"]: f for f in changed["bodies"][0]["files"]}["step"]["sha256"] != a["step"][
        "sha256"
    ]


def test_invalid_request_in_the_worker_is_a_typed_answer(forked: Ask, tmp_path: Path) -> None:
    answer = forked(
        {
            "op": "template",
            "kind": "spacer",
            "params": {"inner_diameter": 50},
            "out_dir": str(tmp_path),
        }
    )
    assert answer == {
        "ok": False,
        "error": {"code": "invalid_request", "message": answer["error"]["message"]},
    }
    assert "leaves no wall" in answer["error"]["message"]
    answer = forked({"op": "template", "kind": "vase", "params": {}, "out_dir": str(tmp_path)})
    assert answer["error"]["code"] == "unknown_part"
