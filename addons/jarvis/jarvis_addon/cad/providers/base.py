"""What every CAD provider implements, and what it hands back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from ..parts import PartSpec

Progress = Callable[[float, str, Mapping[str, Any] | None], Awaitable[None]]
Kind = Literal["parametric", "organic"]


@dataclass(frozen=True, slots=True)
class VariantRequest:
    """One variant of a job, as a provider sees it."""

    job_id: str
    variant: int
    prompt: str
    out_dir: Path
    spec: PartSpec | None = None  # parsed part kind and dimensions (templates)
    code: str | None = None  # model-written CadQuery (sandbox)
    image: Path | None = None  # image-to-model input
    parent: Mapping[str, Any] | None = None  # the artifact this one iterates on
    resume: Mapping[str, Any] | None = (
        None  # provider state from an earlier attempt (e.g. a billed task id)
    )
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProducedFile:
    """One file a provider made, with its validation."""

    path: Path
    fmt: str
    body: str = "model"
    validation: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VariantResult:
    """A provider's output for one variant."""

    provider: str
    files: list[ProducedFile]
    model: str | None = None
    model_version: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    cost_usd: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    """A CAD generator. `unavailable()` says why it cannot run now (None: it can)."""

    name: str
    kind: Kind
    cloud: bool
    estimated_cost_usd: float

    def unavailable(self, request: VariantRequest) -> str | None:
        """Why this provider cannot serve the request (not configured, needs an image, ...)."""

    async def generate(self, request: VariantRequest, progress: Progress) -> VariantResult:
        """Make the variant; raise a CadError subclass on failure."""
