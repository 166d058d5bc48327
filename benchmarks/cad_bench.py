"""CAD: template generation per part, sandbox overhead, provider-independent validation time.

Runs in the add-on venv with real CadQuery (no network). Each figure is printed next to a baseline
from the same run, as a ratio; nothing is asserted.

(a) Template generation per part kind, p50 over --rounds: build + STEP/STL export + STEP
    re-import + STL watertight check in a forked child (what a job pays), vs the bare build in
    this process (baseline).
(b) Sandbox overhead: a flange written as model code, through the policy check, the forked child
    with rlimits and the runner's export/validation, vs the same code exec'd directly in this
    process followed by the same export/validation (baseline). Also the policy check alone.
(c) Validation time, independent of the provider: validate_shape (B-rep), STEP re-import,
    validate_mesh (trimesh) on an STL and on a GLB, vs the export that produced the file.

    .venv-addon/bin/python benchmarks/cad_bench.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
import statistics
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addons" / "jarvis"))

import cadquery as cq
import trimesh

from jarvis_addon.cad import geometry, parts, sandbox, templates, worker

FLANGE = """
import math
flange = cq.Workplane("XY").circle(30).circle(10).extrude(8)
holes = [(20 * math.cos(a * math.pi / 2), 20 * math.sin(a * math.pi / 2)) for a in range(4)]
result = flange.faces(">Z").workplane().pushPoints(holes).hole(5)
"""


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_templates(rounds: int, out: Path) -> None:
    print(
        "(a) template generation, p50 seconds (forked child with export+validation vs bare build)"
    )
    print(f"    {'part':<14}{'job':>9}{'build':>9}{'ratio':>8}")
    specs = {kind: parts.resolve(parts.PartSpec(kind, {})) for kind in sorted(parts.KINDS)}
    # Every fork first: a process that has run OCCT operations must not fork OCCT work (its
    # thread pool does not survive fork), exactly why the worker's parent never builds anything.
    job: dict[str, list[float]] = {kind: [] for kind in specs}
    for kind, spec in specs.items():
        for i in range(rounds):
            req = {
                "op": "template",
                "kind": kind,
                "params": spec.params,
                "out_dir": str(out / f"{kind}{i}"),
                "stem": kind,
            }
            start = time.perf_counter()
            answer = worker.run_forked(req, cq)
            job[kind].append(time.perf_counter() - start)
            if not answer["ok"]:
                raise SystemExit(f"{kind}: {answer['error']}")
    SANDBOXED.extend(sandbox_forks(rounds, out / "sb"))
    for kind, spec in specs.items():
        bare = [timed(lambda s=spec: templates.build(s)) for _ in range(rounds)]
        print(
            f"    {kind:<14}{p50(job[kind]):>9.3f}{p50(bare):>9.3f}{p50(job[kind]) / p50(bare):>8.1f}x"
        )


SANDBOXED: list[float] = []


def sandbox_forks(rounds: int, out: Path) -> list[float]:
    samples = []
    for i in range(rounds):
        start = time.perf_counter()
        answer = worker.run_forked(
            {"op": "code", "code": FLANGE, "out_dir": str(out / f"{i}"), "stem": "m"}, cq
        )
        samples.append(time.perf_counter() - start)
        if not answer["ok"]:
            raise SystemExit(f"sandbox: {answer['error']}")
    return samples


def bench_sandbox(rounds: int, out: Path) -> None:
    print(
        "(b) sandbox overhead, p50 seconds (flange as model code; forked runs measured before any OCCT work here)"
    )
    sandboxed = SANDBOXED
    direct: list[float] = []
    policy: list[float] = []
    for i in range(rounds):

        def run_direct(i: int = i) -> None:
            env: dict[str, Any] = {"cq": cq}
            exec(FLANGE, env)
            geometry.export_solid(env["result"], out / f"d{i}", "m")

        direct.append(timed(run_direct))
        policy.append(timed(lambda: sandbox.check_code(FLANGE)))
    print(
        f"    sandboxed {p50(sandboxed):.3f}  direct {p50(direct):.3f}  ratio {p50(sandboxed) / p50(direct):.2f}x"
        f"  (overhead {1000 * (p50(sandboxed) - p50(direct)):.0f} ms; policy check alone {1e6 * p50(policy):.0f} us)"
    )


def bench_validation(rounds: int, out: Path) -> None:
    print("(c) validation, p50 milliseconds (vs the export that made the file)")
    spec = parts.resolve(parts.PartSpec("enclosure", {}))
    shape = geometry.to_shape(templates.build(spec)["box"])
    out.mkdir(parents=True, exist_ok=True)
    step, stl, glb = out / "v.step", out / "v.stl", out / "v.glb"
    export_step = [timed(lambda: cq.exporters.export(shape, str(step))) for _ in range(rounds)]
    export_stl = [
        timed(lambda: cq.exporters.export(shape, str(stl), tolerance=0.01, angularTolerance=0.1))
        for _ in range(rounds)
    ]
    buf = io.BytesIO()
    trimesh.load(str(stl)).export(buf, file_type="glb")
    glb.write_bytes(buf.getvalue())
    rows = [
        (
            "B-rep (isValid, volume, bbox)",
            [timed(lambda: geometry.validate_shape(shape)) for _ in range(rounds)],
            export_step,
        ),
        (
            "STEP re-import + validate",
            [
                timed(lambda: geometry.validate_shape(cq.importers.importStep(str(step))))
                for _ in range(rounds)
            ],
            export_step,
        ),
        (
            "STL mesh (watertight)",
            [timed(lambda: geometry.validate_mesh(stl)) for _ in range(rounds)],
            export_stl,
        ),
        (
            "GLB mesh (Tripo-style)",
            [timed(lambda: geometry.validate_mesh(glb)) for _ in range(rounds)],
            export_stl,
        ),
        (
            "STEP hash (normalised)",
            [timed(lambda: geometry.file_hash(step)) for _ in range(rounds)],
            export_step,
        ),
    ]
    for name, samples, base in rows:
        print(
            f"    {name:<32}{1000 * p50(samples):>8.1f} ms   export {1000 * p50(base):>7.1f} ms   ratio {p50(samples) / p50(base):.2f}x"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cad-bench-") as tmp:
        out = Path(tmp)
        bench_templates(args.rounds, out / "t")
        bench_sandbox(args.rounds, out / "s")
        bench_validation(args.rounds, out / "v")
    return 0


if __name__ == "__main__":
    sys.exit(main())
