"""Validate, export and hash geometry (CadQuery solids and triangle meshes). Provider-independent.

STEP files are not byte-deterministic (the FILE_NAME timestamp and the translator's per-process
counter change), so the stable hash of a STEP file is the sha256 of its text with those two blanked;
STL bytes are deterministic for one OCCT version and tolerance and are hashed as they are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import hashlib
from pathlib import Path
import re
from typing import Any, Final

STL_TOLERANCE: Final = 0.01  # mm, linear deflection
STL_ANGULAR_TOLERANCE: Final = 0.1  # rad
_STEP_VOLATILE: Final = (
    # FILE_NAME('name','2026-11-26T04:00:00',...): the second field is the export time
    (re.compile(r"(FILE_NAME\s*\(\s*'[^']*'\s*,\s*)'[^']*'"), r"\1''"),
    # 'Open CASCADE STEP translator 7.9 12': the trailing number counts exports in a process
    (re.compile(r"(Open CASCADE STEP translator [\d.]+)\s+\d+"), r"\1"),
)


@dataclass(frozen=True, slots=True)
class Validation:
    """What the validator found; `ok` is the verdict."""

    ok: bool
    kind: str  # "solid" or "mesh"
    volume: float
    bbox: tuple[float, float, float, float, float, float]  # xmin, ymin, zmin, xmax, ymax, zmax
    valid_solid: bool | None = None
    solids: int | None = None
    watertight: bool | None = None
    triangles: int | None = None
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out = asdict(self)
        out["bbox"] = list(self.bbox)
        out["problems"] = list(self.problems)
        return out

    @property
    def size(self) -> tuple[float, float, float]:
        """Bounding-box extents x, y, z."""
        b = self.bbox
        return (b[3] - b[0], b[4] - b[1], b[5] - b[2])


def normalized_step_hash(text: str) -> str:
    """sha256 of a STEP file's text with its timestamp and export counter blanked."""
    for pattern, repl in _STEP_VOLATILE:
        text = pattern.sub(repl, text)
    return hashlib.sha256(text.encode()).hexdigest()


def file_hash(path: Path) -> str:
    """Stable content hash of an artifact file (normalised for STEP)."""
    if path.suffix.lower() in (".step", ".stp"):
        return normalized_step_hash(path.read_text(encoding="utf-8", errors="replace"))
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def validate_mesh(path: Path) -> Validation:
    """Load a mesh (STL, GLB, OBJ, PLY) with trimesh: watertight, volume, bounding box."""
    import trimesh

    try:
        loaded = trimesh.load(str(path), force="mesh")
    except Exception as err:  # noqa: BLE001 - trimesh raises anything on a bad file
        return Validation(
            False, "mesh", 0.0, (0.0,) * 6, problems=(f"cannot read the mesh: {err}",)
        )
    mesh: Any = loaded
    if len(mesh.faces) == 0:
        return Validation(
            False,
            "mesh",
            0.0,
            (0.0,) * 6,
            watertight=False,
            triangles=0,
            problems=("the mesh is empty",),
        )
    lo, hi = mesh.bounds
    watertight = bool(mesh.is_watertight)
    volume = float(abs(mesh.volume)) if watertight else 0.0
    problems = () if watertight else ("the mesh is not watertight",)
    return Validation(
        watertight,
        "mesh",
        volume,
        (float(lo[0]), float(lo[1]), float(lo[2]), float(hi[0]), float(hi[1]), float(hi[2])),
        watertight=watertight,
        triangles=len(mesh.faces),
        problems=problems,
    )


def validate_shape(shape: Any) -> Validation:
    """A CadQuery Shape or Workplane: valid B-rep, at least one solid, positive volume."""
    import cadquery as cq

    if isinstance(shape, cq.Workplane):
        vals = [v for v in shape.vals() if isinstance(v, cq.Shape)]
        if not vals:
            return Validation(
                False,
                "solid",
                0.0,
                (0.0,) * 6,
                valid_solid=False,
                solids=0,
                problems=("no shape in the result",),
            )
        shape = vals[0] if len(vals) == 1 else cq.Compound.makeCompound(vals)
    if not isinstance(shape, cq.Shape):
        return Validation(
            False,
            "solid",
            0.0,
            (0.0,) * 6,
            valid_solid=False,
            solids=0,
            problems=(f"result is a {type(shape).__name__}, not a shape",),
        )
    solids = len(shape.Solids())
    valid = bool(shape.isValid())
    volume = float(shape.Volume()) if solids else 0.0
    bb = shape.BoundingBox()
    problems: list[str] = []
    if not valid:
        problems.append("the B-rep is not valid")
    if solids == 0:
        problems.append("the result has no solid")
    if volume <= 0:
        problems.append("the solid has no volume")
    return Validation(
        not problems,
        "solid",
        volume,
        (bb.xmin, bb.ymin, bb.zmin, bb.xmax, bb.ymax, bb.zmax),
        valid_solid=valid,
        solids=solids,
        problems=tuple(problems),
    )


def to_shape(obj: Any) -> Any:
    """The single cq.Shape a Workplane or Shape stands for."""
    import cadquery as cq

    if isinstance(obj, cq.Workplane):
        vals = [v for v in obj.vals() if isinstance(v, cq.Shape)]
        return vals[0] if len(vals) == 1 else cq.Compound.makeCompound(vals)
    return obj


def export_solid(obj: Any, out_dir: Path, stem: str) -> dict[str, Any]:
    """Validate, export STEP and STL, re-import both, hash; returns the files' metadata.

    Raises GeometryInvalidError when the shape, the re-imported STEP or the STL fails.
    """
    import cadquery as cq

    from .errors import GeometryInvalidError

    shape = to_shape(obj)
    check = validate_shape(shape)
    if not check.ok:
        raise GeometryInvalidError(f"{stem}: {'; '.join(check.problems)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    step = out_dir / f"{stem}.step"
    stl = out_dir / f"{stem}.stl"
    cq.exporters.export(shape, str(step))
    cq.exporters.export(
        shape, str(stl), tolerance=STL_TOLERANCE, angularTolerance=STL_ANGULAR_TOLERANCE
    )
    reimported = validate_shape(cq.importers.importStep(str(step)))
    if not reimported.ok or abs(reimported.volume - check.volume) > 1e-6 * max(check.volume, 1.0):
        raise GeometryInvalidError(
            f"{stem}: the exported STEP does not re-import as the same valid solid"
        )
    mesh = validate_mesh(stl)
    if not mesh.ok:
        raise GeometryInvalidError(f"{stem}: the exported STL fails: {'; '.join(mesh.problems)}")
    return {
        "files": [
            {
                "path": str(step),
                "format": "step",
                "sha256": file_hash(step),
                "bytes": step.stat().st_size,
            },
            {
                "path": str(stl),
                "format": "stl",
                "sha256": file_hash(stl),
                "bytes": stl.stat().st_size,
            },
        ],
        "validation": {
            **check.as_dict(),
            "step_reimport_valid": reimported.ok,
            "stl_watertight": mesh.watertight,
            "stl_triangles": mesh.triangles,
        },
    }


def versions() -> dict[str, str]:
    """CadQuery and OCCT versions and tolerances, recorded in the lineage (exports depend on them)."""
    import cadquery as cq
    import OCP

    occt = str(
        getattr(OCP, "__version__", "unknown")
    )  # cadquery-ocp's version is OCCT's plus a build number
    return {
        "cadquery": str(cq.__version__),
        "occt": occt,
        "stl_tolerance": str(STL_TOLERANCE),
        "stl_angular_tolerance": str(STL_ANGULAR_TOLERANCE),
    }
