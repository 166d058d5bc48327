"""Build the CAD service from the add-on's `cad` options (and the SDKs' usual environment variables)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import os
from pathlib import Path
from typing import Any

from .providers.base import Provider
from .providers.cadquery_local import CadQuerySandbox, CadQueryTemplates
from .providers.tripo import TripoModel, TripoOptions
from .providers.triposr import DEV_PYTHON, TripoSRLocal, TripoSROptions
from .providers.zoo import ZooOptions, ZooTextToCad
from .s3 import S3Options, S3Storage, options_from
from .service import CadService, Publish
from .store import DEFAULT_ROOT, ArtifactStore
from .worker_client import CadWorker


@dataclass(frozen=True, slots=True)
class CadConfig:
    """Resolved CAD options."""

    enabled: bool
    root: Path
    offline: bool
    budget_usd: float | None
    zoo: ZooOptions
    tripo: TripoOptions
    triposr: TripoSROptions
    s3: S3Options | None = None  # None: files stay under `root`


def load(
    options: Mapping[str, Any], data_dir: Path, environ: Mapping[str, str] | None = None
) -> CadConfig:
    """Options win; ZOO_API_TOKEN/KITTYCAD_API_TOKEN, ZOO_HOST and TRIPO_API_KEY fill the gaps.

    Raises S3ConfigError when the `s3_*` options are set but inconsistent.
    """
    env = os.environ if environ is None else environ
    if "dir" in options:
        root = Path(str(options["dir"]))
    elif DEFAULT_ROOT.parent.parent.is_dir():  # /share exists: the add-on container
        root = DEFAULT_ROOT
    else:  # development: next to the worker's data
        root = data_dir / "cad"
    return CadConfig(
        enabled=bool(options.get("enabled", True)),
        root=root,
        offline=bool(options.get("offline", False)),
        budget_usd=float(options["budget_usd"]) if options.get("budget_usd") is not None else None,
        zoo=ZooOptions(
            token=options.get("zoo_api_token")
            or env.get("ZOO_API_TOKEN")
            or env.get("KITTYCAD_API_TOKEN"),
            base_url=str(
                options.get("zoo_base_url") or env.get("ZOO_HOST") or "https://api.zoo.dev"
            ),
        ),
        tripo=TripoOptions(
            api_key=options.get("tripo_api_key") or env.get("TRIPO_API_KEY"),
            base_url=str(options.get("tripo_base_url") or "https://openapi.tripo3d.ai"),
            model_version=str(options.get("tripo_model_version") or "v2.5-20250123"),
        ),
        triposr=_triposr(options, env),
        s3=options_from(options),
    )


def _triposr(options: Mapping[str, Any], env: Mapping[str, str]) -> TripoSROptions:
    """TripoSR's options; off (skipped with the reason) until weights and their sha256 are set.

    The runner's Python: the option, then JARVIS_TRIPOSR_PYTHON, then the checkout's .venv-triposr.
    """
    weights = options.get("triposr_weights")
    python = options.get("triposr_python") or env.get("JARVIS_TRIPOSR_PYTHON")
    defaults = TripoSROptions(None, None)
    return TripoSROptions(
        weights=Path(str(weights)) if weights else None,
        sha256=str(options["triposr_sha256"]).strip().lower()
        if options.get("triposr_sha256")
        else None,
        python=Path(str(python)) if python else DEV_PYTHON,
        resolution=int(options.get("triposr_resolution") or defaults.resolution),
        threshold=float(options.get("triposr_threshold") or defaults.threshold),
        timeout=float(options.get("triposr_timeout") or defaults.timeout),
    )


def build_service(
    config: CadConfig, publish: Publish | None, worker: CadWorker | None = None
) -> CadService:
    """The service with every provider this installation has (unconfigured ones say why they cannot run)."""
    worker = worker or CadWorker()
    providers: dict[str, Provider] = {
        "cadquery": CadQueryTemplates(worker),
        "cadquery_code": CadQuerySandbox(worker),
        "zoo": ZooTextToCad(config.zoo),
        "tripo": TripoModel(config.tripo),
        "triposr": TripoSRLocal(config.triposr),
    }
    return CadService(
        ArtifactStore(config.root, S3Storage(config.s3) if config.s3 else None),
        providers,
        publish,
        offline=config.offline,
        budget_usd=config.budget_usd,
        worker=worker,
    )
