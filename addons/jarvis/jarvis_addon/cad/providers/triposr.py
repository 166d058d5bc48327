"""TripoSR, local image → mesh, through `triposr_runner.py` in its own venv (CPU torch, Python 3.11).

The add-on's venv has no CPU torch wheel, so this module imports no torch: it runs the runner as a
subprocess (`<python> triposr_runner.py`, JSON in on stdin, JSON out as the last stdout line),
kills it by PID at the timeout, and maps the runner's error codes to typed CAD errors. It is only
offered when the configured weights, their sha256 and the interpreter are all present.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
import json
import os
from pathlib import Path
import signal
from typing import Any, Final

from ..errors import (
    ImageInvalidError,
    OutOfMemoryError,
    ProviderError,
    ProviderTimeoutError,
    WeightsInvalidError,
    WeightsMissingError,
    WeightsUnsafeError,
)
from .base import Kind, ProducedFile, Progress, VariantRequest, VariantResult

NAME: Final = "triposr"
RUNNER: Final = Path(__file__).resolve().parent.parent / "triposr_runner.py"
# scripts/setup's venv in a checkout (add-on package is installed editable from addons/jarvis).
DEV_PYTHON: Final = Path(__file__).resolve().parents[5] / ".venv-triposr" / "bin" / "python"


@dataclass(frozen=True, slots=True)
class TripoSROptions:
    """Where the weights and the runner's interpreter are, and how to mesh."""

    weights: Path | None  # a directory with config.yaml + model.ckpt, or the checkpoint file
    sha256: str | None  # of the checkpoint; required
    python: Path = DEV_PYTHON
    resolution: int = 256  # marching-cubes grid (upstream default)
    threshold: float = 25.0  # density iso-level (upstream default)
    timeout: float = 900.0  # whole run: ~30 s at 128, ~60 s at 256 on a 2-core x86 VM, plus load
    threads: int = 1


def _checkpoint(weights: Path) -> Path | None:
    if weights.is_dir():
        return next(
            (weights / n for n in ("model.ckpt", "model.safetensors") if (weights / n).is_file()),
            None,
        )
    return weights if weights.is_file() else None


class TripoSRLocal:
    """Image-to-mesh on this machine's CPU; free, slow, offline."""

    name = NAME
    kind: Kind = "organic"
    cloud = False
    estimated_cost_usd = 0.0

    def __init__(self, options: TripoSROptions) -> None:
        """Keep the options (nothing is loaded until a job runs)."""
        self.options = options

    def missing(self) -> str | None:
        """Why this installation cannot run TripoSR at all (None: it can)."""
        o = self.options
        if o.weights is None:
            return "TripoSR has no weights configured (option triposr_weights)"
        if _checkpoint(o.weights) is None:
            return f"TripoSR weights not found at {o.weights} (config.yaml + model.ckpt)"
        if not o.sha256:
            return "TripoSR weights have no sha256 configured (option triposr_sha256)"
        if not os.access(o.python, os.X_OK):
            return f"the TripoSR runner's Python {o.python} is missing (scripts/setup makes .venv-triposr)"
        return None

    def unavailable(self, request: VariantRequest) -> str | None:
        """Needs weights, their sha256, the runner's venv, and an image."""
        if (reason := self.missing()) is not None:
            return reason
        return None if request.image is not None else "TripoSR needs an image"

    async def generate(self, request: VariantRequest, progress: Progress) -> VariantResult:
        """Run the runner once; its GLB (vertex colours) is validated and stored by the service."""
        if (reason := self.missing()) is not None:
            raise WeightsMissingError(NAME, reason)
        if request.image is None:
            raise ImageInvalidError("TripoSR needs an image (image-to-mesh)")
        o = self.options
        out = request.out_dir / f"v{request.variant}-triposr.glb"
        body = {
            "weights": str(o.weights),
            "sha256": o.sha256,
            "image": str(request.image),
            "out": str(out),
            "resolution": o.resolution,
            "threshold": o.threshold,
            "threads": o.threads,
        }
        await progress(0.1, "TripoSR: loading the model and meshing on the CPU", None)
        answer = await self._run(body)
        if not answer.get("ok"):
            raise _error(str(answer.get("error")), str(answer.get("message")))
        stats = answer.get("stats", {})
        return VariantResult(
            provider=NAME,
            files=[ProducedFile(Path(answer["mesh"]), "glb", "mesh", {})],
            model="TripoSR",
            model_version=f"sha256:{answer['weights_sha256'][:16]}",
            params={"resolution": o.resolution, "threshold": o.threshold},
            extra={
                "weights_sha256": answer["weights_sha256"],
                "background": answer.get("background"),
                "runner_stats": stats,
                "seconds": answer.get("seconds"),
                "versions": answer.get("versions"),
            },
        )

    async def _run(self, body: dict[str, Any]) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            str(self.options.python),
            str(RUNNER),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(self.options.threads)},
            start_new_session=True,  # its own process group: a timeout kills torch's helpers too
        )
        try:
            async with asyncio.timeout(self.options.timeout):
                stdout, stderr = await proc.communicate(json.dumps(body).encode())
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise ProviderTimeoutError(
                NAME, f"the runner did not finish within {self.options.timeout:g} s and was stopped"
            ) from None
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
        if proc.returncode == -signal.SIGKILL:
            raise OutOfMemoryError(
                NAME, "the runner was killed (SIGKILL: most likely out of memory)"
            )
        lines = [ln for ln in stdout.decode(errors="replace").splitlines() if ln.strip()]
        try:
            answer = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise ProviderError(
                NAME,
                f"the runner exited {proc.returncode} without an answer: {' | '.join(tail)[:500]}",
            )
        return answer


def _error(code: str, message: str) -> Exception:
    if code == "weights_missing":
        return WeightsMissingError(NAME, message)
    if code == "weights_unsafe":
        return WeightsUnsafeError(NAME, message)
    if code in ("weights_invalid", "config_invalid"):
        return WeightsInvalidError(NAME, message)
    if code == "image_invalid":
        return ImageInvalidError(f"{NAME}: {message}")
    if code == "out_of_memory":
        return OutOfMemoryError(NAME, message)
    return ProviderError(NAME, f"{code}: {message}")
