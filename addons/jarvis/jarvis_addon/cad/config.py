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
        s3=options_from(options),
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
    }
    return CadService(
        ArtifactStore(config.root, S3Storage(config.s3) if config.s3 else None),
        providers,
        publish,
        offline=config.offline,
        budget_usd=config.budget_usd,
        worker=worker,
    )
