"""Model-written CadQuery: escape attempts are rejected by the policy or killed by the limits,
each with a clear error; valid code is validated and exported by the runner."""

from __future__ import annotations

from pathlib import Path
import time
from typing import Any

import cadquery as cq
import pytest
import trimesh

from jarvis_addon.cad import sandbox
from jarvis_addon.cad.errors import SandboxRejectedError

from .conftest import Ask

FLANGE = """
import math
od = 60.0
flange = cq.Workplane("XY").circle(od / 2).circle(10).extrude(8)
holes = [(20 * math.cos(a * math.pi / 2), 20 * math.sin(a * math.pi / 2)) for a in range(4)]
result = flange.faces(">Z").workplane().pushPoints(holes).hole(5)
print("holes", len(holes))
"""


def run(forked: Ask, code: str, tmp_path: Path, **limits: float) -> dict[str, Any]:
    return forked(
        {"op": "code", "code": code, "out_dir": str(tmp_path), "stem": "m", "limits": limits}
    )


def test_valid_code_is_exported_and_validated_by_the_runner(forked: Ask, tmp_path: Path) -> None:
    answer = run(forked, FLANGE, tmp_path)
    assert answer["ok"], answer
    result = answer["result"]
    assert isinstance(result, dict)
    body = result["bodies"][0]
    assert body["validation"]["valid_solid"] and body["validation"]["stl_watertight"]
    assert result["printed"] == "holes 4\n"
    stl = next(f["path"] for f in body["files"] if f["format"] == "stl")
    assert trimesh.load(stl).is_watertight


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("import os\nresult = None", "import of 'os' not allowed"),
        ("import subprocess", "import of 'subprocess' not allowed"),
        ("from cadquery import exporters", "from-imports not allowed"),
        (
            "x = ().__class__.__bases__[0].__subclasses__()",
            "attribute '__subclasses__' not allowed",
        ),
        ("x = __builtins__", "name '__builtins__' not allowed"),
        ("f = open('/etc/passwd').read()", "attribute 'read' not allowed"),
        ("f = open('/etc/passwd')", "name 'open' not allowed"),
        ("open('/tmp/pwned', 'w').write('x')", "attribute 'write' not allowed"),
        (
            "r = cq.Workplane().box(1, 1, 1)\ncq.exporters.export(r, '/tmp/x.step')",
            "attribute 'export' not allowed",
        ),
        ("e = cq.exporters", "attribute 'exporters' not allowed"),
        (
            "r = cq.Workplane().box(1, 1, 1)\nr.val().exportStl('/tmp/x.stl')",
            "attribute 'exportStl' not allowed",
        ),
        ("r = cq.occ_impl", "attribute 'occ_impl' not allowed"),
        ("g = getattr(cq, 'export' + 'ers')", "name 'getattr' not allowed"),
        ("e = eval('1')", "name 'eval' not allowed"),
        ("f = lambda: 1", "Lambda not allowed"),
        ("s = 'a' + '__class__'", "strings containing '__' not allowed"),
        ("def f():\n    global result", "Global not allowed"),
        ("r = cq.Workplane().box(1,1,1).val().wrapped", "attribute 'wrapped' not allowed"),
        ("x = (y for y in []).gi_frame", "attribute 'gi_frame' not allowed"),
        ("x = " + "1" * 30000, "limit is 20000"),
        ("def (:", "syntax error"),
    ],
)
def test_escape_attempts_are_rejected_before_running(
    forked: Ask, code: str, fragment: str, tmp_path: Path
) -> None:
    with pytest.raises(SandboxRejectedError) as err:
        sandbox.check_code(code)
    assert fragment in str(err.value)
    answer = run(forked, code, tmp_path)  # the runner applies the same policy
    assert answer == {"ok": False, "error": {"code": "sandbox_rejected", "message": str(err.value)}}
    assert not Path("/tmp/pwned").exists()


def test_infinite_loop_is_killed_at_the_cpu_limit(forked: Ask, tmp_path: Path) -> None:
    started = time.monotonic()
    answer = run(forked, "while True:\n    pass", tmp_path, cpu_s=1, wall_s=20)
    assert answer == {
        "ok": False,
        "error": {"code": "sandbox_killed", "message": "stopped at the 1 s CPU-time limit"},
    }
    assert time.monotonic() - started < 15


def test_long_running_code_is_killed_at_the_wall_clock(forked: Ask, tmp_path: Path) -> None:
    # Under a generous CPU limit, the parent's wall clock stops it (a huge boolean would do the same).
    code = "r = cq.Workplane().box(1,1,1)\nfor i in range(10**9):\n    r = r.translate((0, 0, 0))"
    answer = run(forked, code, tmp_path, cpu_s=30, wall_s=1)
    assert answer == {
        "ok": False,
        "error": {"code": "sandbox_killed", "message": "stopped after the 1 s wall-clock limit"},
    }


@pytest.mark.parametrize(
    "code", ["x = [0] * 10**10", "x = []\nwhile True:\n    x.append([0] * 10**7)"]
)
def test_memory_bombs_hit_the_address_space_limit(forked: Ask, code: str, tmp_path: Path) -> None:
    answer = run(forked, code, tmp_path, memory_mb=2048, cpu_s=20, wall_s=30)
    assert answer["ok"] is False
    assert answer["error"] == {
        "code": "sandbox_killed",
        "message": "the code ran out of memory (address-space limit) and was stopped",
    }


def test_runtime_errors_and_bad_results_are_clear(forked: Ask, tmp_path: Path) -> None:
    answer = run(forked, "result = cq.Workplane().boxx(1, 1, 1)", tmp_path)
    assert answer["error"]["code"] == "sandbox_failed"  # type: ignore[index]
    assert "AttributeError" in answer["error"]["message"] and "boxx" in answer["error"]["message"]  # type: ignore[index]
    answer = run(forked, "x = 1", tmp_path)
    assert answer["error"] == {
        "code": "sandbox_failed",
        "message": "the code did not bind `result` to a Workplane or Shape",
    }
    answer = run(forked, "result = 42", tmp_path)
    assert answer["error"]["message"] == "`result` is a int, not a cadquery Workplane or Shape"  # type: ignore[index]
    answer = run(forked, "import os", tmp_path)
    assert answer["error"]["code"] == "sandbox_rejected"  # type: ignore[index]
    answer = run(forked, "result = cq.Workplane().rect(10, 10)", tmp_path)  # a sketch, no solid
    assert answer["error"]["code"] == "geometry_invalid"  # type: ignore[index]


def test_import_hook_admits_only_the_allow_list() -> None:
    env = sandbox.restricted_globals(cq)
    hook = env["__builtins__"]["__import__"]
    assert hook("math") is env["math"]
    with pytest.raises(ImportError, match="'os' not allowed"):
        hook("os")
    assert "open" not in env["__builtins__"] and "getattr" not in env["__builtins__"]
