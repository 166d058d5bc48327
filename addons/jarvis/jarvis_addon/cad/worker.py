"""The CAD worker process: imports CadQuery once, then forks a child per request.

    python -m jarvis_addon.cad.worker      (JSON lines: one request on stdin, one answer on stdout)

Why a process of its own: CadQuery maps about 1 GB and takes 2-4 s to import, so the add-on keeps
one warm parent, and every request runs in a forked child that starts with CadQuery loaded. The
child sets rlimits (CPU seconds, address space, file size, open files, no core dumps) and works in a
fresh temporary directory; the parent enforces the wall-clock limit and SIGKILLs the child by PID.

Requests (`id` is echoed back):
    {"op": "ping"}
    {"op": "template", "kind": K, "params": {...}, "out_dir": D, "stem": S}
    {"op": "code", "code": SRC, "out_dir": D, "stem": S, "limits": {"cpu_s", "memory_mb", "wall_s"}}
    {"op": "validate_mesh", "path": P}  /  {"op": "validate_step", "path": P}
Answers: {"id", "ok": true, "result": {...}} or {"id", "ok": false, "error": {"code", "message"}}.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
import resource
import select
import signal
import sys
import tempfile
import time
from typing import IO, Any, Final

DEFAULT_LIMITS: Final = {"cpu_s": 6.0, "memory_mb": 3072.0, "wall_s": 20.0, "file_mb": 64.0}
TEMPLATE_LIMITS: Final = {"cpu_s": 60.0, "memory_mb": 4096.0, "wall_s": 90.0, "file_mb": 256.0}
MAX_PRINT: Final = 4000


def _set_limits(limits: dict[str, float]) -> None:
    cpu = max(1, int(limits["cpu_s"]))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    mem = int(limits["memory_mb"] * 1024 * 1024)
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    size = int(limits["file_mb"] * 1024 * 1024)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


def _run_template(req: dict[str, Any]) -> dict[str, Any]:
    from . import geometry, parts, templates

    spec = parts.resolve(parts.PartSpec(str(req["kind"]), dict(req.get("params") or {})))
    bodies = templates.build(spec)
    out_dir = Path(req["out_dir"])
    stem = str(req.get("stem") or spec.kind)
    outputs = []
    for name, body in bodies.items():
        exported = geometry.export_solid(
            body, out_dir, f"{stem}-{name}" if len(bodies) > 1 else stem
        )
        outputs.append({"body": name, **exported})
    return {
        "ok": True,
        "result": {
            "kind": spec.kind,
            "params": spec.params,
            "bodies": outputs,
            "versions": geometry.versions(),
        },
    }


def _run_code(req: dict[str, Any], cq: Any) -> dict[str, Any]:
    from . import geometry, sandbox
    from .errors import CadError

    tree = sandbox.check_code(str(req["code"]))
    env = sandbox.restricted_globals(cq)
    printed = io.StringIO()
    env["__builtins__"]["print"] = lambda *a, **_k: printed.write(
        " ".join(map(str, a))[:MAX_PRINT] + "\n"
    )
    try:
        exec(compile(tree, "<model-code>", "exec"), env)  # noqa: S102 - checked by the policy, run in a limited child
    except MemoryError:
        return _error(
            "sandbox_killed", "the code ran out of memory (address-space limit) and was stopped"
        )
    except CadError as err:
        return _error(err.code, str(err))
    except Exception as err:  # noqa: BLE001 - the model's code may raise anything
        return _error("sandbox_failed", f"the code raised {type(err).__name__}: {err}"[:MAX_PRINT])
    if "result" not in env:
        return _error("sandbox_failed", "the code did not bind `result` to a Workplane or Shape")
    result = env["result"]
    if not isinstance(result, cq.Workplane | cq.Shape):
        return _error(
            "sandbox_failed",
            f"`result` is a {type(result).__name__}, not a cadquery Workplane or Shape",
        )
    exported = geometry.export_solid(result, Path(req["out_dir"]), str(req.get("stem") or "model"))
    return {
        "ok": True,
        "result": {
            "bodies": [{"body": "model", **exported}],
            "printed": printed.getvalue()[:MAX_PRINT],
            "versions": geometry.versions(),
        },
    }


def _child(req: dict[str, Any], write_fd: int, limits: dict[str, float], cq: Any) -> None:
    """Runs in the forked child: never returns."""
    out = os.fdopen(write_fd, "w")
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # OCCT and stray prints must not reach the protocol pipe
        os.chdir(tempfile.mkdtemp(prefix="jarvis-cad-"))
        _set_limits(limits)
        from .errors import CadError

        try:
            if req["op"] == "template":
                answer = _run_template(req)
            elif req["op"] == "code":
                answer = _run_code(req, cq)
            elif req["op"] == "validate_step":
                from . import geometry

                imported = cq.importers.importStep(str(req["path"]))
                answer = {"ok": True, "result": geometry.validate_shape(imported).as_dict()}
            else:
                from . import geometry

                answer = {"ok": True, "result": geometry.validate_mesh(Path(req["path"])).as_dict()}
        except CadError as err:
            answer = _error(err.code, str(err))
        except MemoryError:
            answer = _error(
                "sandbox_killed", "ran out of memory (address-space limit) and was stopped"
            )
        except Exception as err:  # noqa: BLE001
            answer = _error("cad_error", f"{type(err).__name__}: {err}")
        out.write(json.dumps(answer))
        out.flush()
    finally:
        os._exit(0)


def run_forked(req: dict[str, Any], cq: Any) -> dict[str, Any]:
    """Run one request in a forked child with limits; the parent enforces the wall clock."""
    base = TEMPLATE_LIMITS if req["op"] != "code" else DEFAULT_LIMITS
    limits = {**base, **{k: float(v) for k, v in (req.get("limits") or {}).items() if k in base}}
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child (its coverage is not collected)
        os.close(read_fd)
        _child(req, write_fd, limits, cq)
    os.close(write_fd)
    deadline = time.monotonic() + limits["wall_s"]
    chunks: list[bytes] = []
    timed_out = False
    with os.fdopen(read_fd, "rb") as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([pipe], [], [], left)
            if not ready:
                continue
            chunk = os.read(pipe.fileno(), 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    if timed_out:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return _error(
            "sandbox_killed", f"stopped after the {limits['wall_s']:g} s wall-clock limit"
        )
    if chunks:
        try:
            return dict(json.loads(b"".join(chunks)))
        except json.JSONDecodeError:
            return _error("cad_error", "the worker child wrote an unreadable answer")
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            return _error("sandbox_killed", f"stopped at the {limits['cpu_s']:g} s CPU-time limit")
        if sig == signal.SIGXFSZ:
            return _error(
                "sandbox_killed", f"stopped at the {limits['file_mb']:g} MB file-size limit"
            )
        return _error("sandbox_killed", f"the child died from signal {signal.Signals(sig).name}")
    return _error("sandbox_killed", "the child exited without an answer (out of memory?)")


def serve(stdin: IO[str], proto_out: IO[str]) -> None:
    """Answer requests until stdin closes."""
    import cadquery as cq
    import trimesh  # noqa: F401 - warm too: every export is checked with it

    proto_out.write(json.dumps({"id": None, "ok": True, "result": {"ready": True}}) + "\n")
    proto_out.flush()
    for line in stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except ValueError:
            req = None
        if not isinstance(req, dict) or req.get("op") not in (
            "ping",
            "template",
            "code",
            "validate_mesh",
            "validate_step",
        ):
            answer = _error("bad_request", "unreadable request line or unknown op")
            req = req if isinstance(req, dict) else {}
        elif req["op"] == "ping":
            answer = {"ok": True, "result": {"pong": True}}
        else:
            answer = run_forked(req, cq)
        answer["id"] = req.get("id")
        proto_out.write(json.dumps(answer) + "\n")
        proto_out.flush()


def main() -> int:
    """Keep the protocol on a private copy of stdout; anything else printed goes to stderr."""
    proto_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin, proto_out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
