"""The cycler's plan: which provider makes each variant, and what it falls back to. Pure.

Variants spread across providers (parametric first, organic when asked for or when there is room),
each with a fallback chain ending in the offline CadQuery template when the request names a part
the library knows. Offline mode, a missing key, or a budget too small for a cloud call skip that
provider with the reason recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .request import CadRequest

PARAMETRIC_ORDER = ("cadquery_code", "cadquery", "zoo")
ORGANIC_ORDER = ("tripo", "triposr")


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What the planner needs to know about a provider."""

    name: str
    kind: str  # parametric | organic
    cloud: bool
    cost_usd: float
    unavailable: str | None  # reason, or None when it can serve this request


def plan(
    request: CadRequest, providers: Mapping[str, ProviderInfo]
) -> tuple[list[list[str]], dict[str, str]]:
    """Fallback chains per variant, and why each skipped provider was skipped.

    Budget is planned up front: cloud providers are admitted in order while their estimated costs
    fit the job's budget, so a job never starts calls it cannot pay for.
    """
    skipped: dict[str, str] = {}
    budget = request.budget_usd
    usable: list[str] = []
    if request.providers:
        order = list(request.providers)
    else:
        organic = [p for p in ORGANIC_ORDER if p in providers]
        parametric = [p for p in PARAMETRIC_ORDER if p in providers]
        order = organic + parametric if request.organic else parametric + organic
    for name in order:
        info = providers.get(name)
        if info is None:
            skipped[name] = "not installed"
            continue
        if info.unavailable:
            skipped[name] = info.unavailable
            continue
        if info.cloud and request.offline:
            skipped[name] = "offline mode"
            continue
        if info.cloud and budget is not None:
            if info.cost_usd > budget:
                skipped[name] = f"over budget (about ${info.cost_usd:.2f}, ${budget:.2f} left)"
                continue
            budget -= info.cost_usd
        usable.append(name)
    if not request.organic and not request.providers:
        # Organic meshes only when asked for, unless nothing parametric can run.
        parametric_usable = [p for p in usable if providers[p].kind == "parametric"]
        if parametric_usable:
            for p in usable:
                if providers[p].kind == "organic":
                    skipped.setdefault(p, "not asked for an organic mesh")
            usable = parametric_usable
    chains: list[list[str]] = []
    for i in range(min(request.variants, len(usable))):
        primary = usable[i]
        rest = [p for p in usable if p != primary and p not in (c[0] for c in chains)]
        fallback = [p for p in rest if p not in usable[: request.variants]]
        if "cadquery" in usable and "cadquery" not in fallback and primary != "cadquery":
            fallback.append("cadquery")
        chains.append([primary, *fallback])
    return chains, skipped
