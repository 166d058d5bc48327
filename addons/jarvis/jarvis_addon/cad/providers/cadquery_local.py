"""Offline parametric CAD: CadQuery templates, and model-written CadQuery in the sandbox.

Both run in the CAD worker process (forked child per request); this module only says what to run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError
from ..parts import resolve
from ..worker_client import CadWorker
from .base import Kind, ProducedFile, Progress, VariantRequest, VariantResult


def _files(result: dict[str, Any]) -> list[ProducedFile]:
    return [
        ProducedFile(Path(f["path"]), f["format"], body["body"], body["validation"])
        for body in result["bodies"]
        for f in body["files"]
    ]


class CadQueryTemplates:
    """A template from the part library, with dimensions from the request."""

    name = "cadquery"
    kind: Kind = "parametric"
    cloud = False
    estimated_cost_usd = 0.0

    def __init__(self, worker: CadWorker) -> None:
        """Use this worker process."""
        self.worker = worker

    def unavailable(self, request: VariantRequest) -> str | None:
        """Needs a part kind the library knows."""
        return None if request.spec is not None else "no template matches the request"

    async def generate(self, request: VariantRequest, progress: Progress) -> VariantResult:
        """Resolve (validate) the dimensions here for a fast clear error, build in the worker."""
        if request.spec is None:
            raise InvalidRequestError("no part kind to build")
        spec = resolve(request.spec)
        await progress(0.2, f"building {spec.kind}", None)
        result = await self.worker.request(
            {
                "op": "template",
                "kind": spec.kind,
                "params": spec.params,
                "out_dir": str(request.out_dir),
                "stem": f"v{request.variant}-{spec.kind}",
            }
        )
        return VariantResult(
            provider=self.name,
            files=_files(result),
            model=f"template:{spec.kind}",
            model_version=f"cadquery {result['versions']['cadquery']} / OCCT {result['versions']['occt']}",
            params={"kind": spec.kind, **spec.params},
            extra={"versions": result["versions"]},
        )


class CadQuerySandbox:
    """Model-written CadQuery, checked by the AST policy and run in a limited child."""

    name = "cadquery_code"
    kind: Kind = "parametric"
    cloud = False
    estimated_cost_usd = 0.0

    def __init__(self, worker: CadWorker, limits: dict[str, float] | None = None) -> None:
        """Use this worker process and these limits (cpu_s, memory_mb, wall_s)."""
        self.worker = worker
        self.limits = limits or {}

    def unavailable(self, request: VariantRequest) -> str | None:
        """Needs code."""
        return None if request.code else "no CadQuery code in the request"

    async def generate(self, request: VariantRequest, progress: Progress) -> VariantResult:
        """Run the code in the sandbox; the worker validates and exports the result."""
        await progress(0.2, "running the CadQuery code in the sandbox", None)
        result = await self.worker.request(
            {
                "op": "code",
                "code": request.code,
                "out_dir": str(request.out_dir),
                "stem": f"v{request.variant}-code",
                "limits": self.limits,
            }
        )
        import hashlib

        code_hash = hashlib.sha256((request.code or "").encode()).hexdigest()
        return VariantResult(
            provider=self.name,
            files=_files(result),
            model="sandboxed-cadquery",
            model_version=f"cadquery {result['versions']['cadquery']} / OCCT {result['versions']['occt']}",
            params={"code_sha256": code_hash},
            extra={"versions": result["versions"], "printed": result.get("printed", "")},
        )
