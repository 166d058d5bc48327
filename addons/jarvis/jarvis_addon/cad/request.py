"""A CAD job request: parsing and validation of the JSON the API and MQTT receive. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import re
from typing import Any, Final

from .errors import InvalidRequestError
from .parts import KINDS, PartSpec, kind_of, parse_request, resolve

MAX_PROMPT: Final = 2000
MAX_VARIANTS: Final = 6
_ORGANIC_WORDS: Final = re.compile(
    r"\b(organic|sculpt\w*|figurine|statue|character|creature|animal|textured|mesh|toy|bust)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class CadRequest:
    """What to make, for whom, and how."""

    prompt: str
    conversation_id: str | None = None
    ha_user: str | None = None
    spec: PartSpec | None = None
    variants: int = 3
    providers: tuple[str, ...] | None = None
    organic: bool = False
    code: str | None = None
    image: str | None = None
    parent_artifact_id: str | None = None
    offline: bool = False
    budget_usd: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


def _opt_str(body: Mapping[str, Any], key: str, limit: int = 200) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidRequestError(f"{key} must be a string of at most {limit} characters")
    return value.strip() or None


def parse(body: Any, *, known_providers: frozenset[str]) -> CadRequest:
    """Validate a request body; InvalidRequestError (or UnknownPartError) names the problem."""
    if not isinstance(body, Mapping):
        raise InvalidRequestError("the request must be a JSON object")
    allowed = {
        "prompt",
        "conversation_id",
        "ha_user",
        "kind",
        "params",
        "variants",
        "providers",
        "organic",
        "code",
        "image",
        "parent_artifact_id",
        "offline",
        "budget_usd",
    }
    if unknown := sorted(set(body) - allowed):
        raise InvalidRequestError(f"unknown field(s): {', '.join(unknown)}")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequestError("prompt is required: describe the part")
    if len(prompt) > MAX_PROMPT:
        raise InvalidRequestError(f"prompt is longer than {MAX_PROMPT} characters")
    kind = _opt_str(body, "kind", 40)
    params = body.get("params") or {}
    if not isinstance(params, Mapping):
        raise InvalidRequestError("params must be an object of numbers")
    variants = body.get("variants", 3)
    if (
        isinstance(variants, bool)
        or not isinstance(variants, int)
        or not 1 <= variants <= MAX_VARIANTS
    ):
        raise InvalidRequestError(f"variants must be a whole number from 1 to {MAX_VARIANTS}")
    providers = body.get("providers")
    if providers is not None:
        if (
            not isinstance(providers, list)
            or not providers
            or not all(isinstance(p, str) for p in providers)
        ):
            raise InvalidRequestError("providers must be a non-empty list of names")
        if bad := sorted(set(providers) - known_providers):
            raise InvalidRequestError(
                f"unknown provider(s) {', '.join(bad)}: known are {', '.join(sorted(known_providers))}"
            )
    budget = body.get("budget_usd")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int | float) or budget < 0
    ):
        raise InvalidRequestError("budget_usd must be a number >= 0")
    code = body.get("code")
    if code is not None and not isinstance(code, str):
        raise InvalidRequestError("code must be a string of CadQuery Python")
    organic = body.get("organic")
    if organic is not None and not isinstance(organic, bool):
        raise InvalidRequestError("organic must be true or false")
    offline = body.get("offline", False)
    if not isinstance(offline, bool):
        raise InvalidRequestError("offline must be true or false")

    # A part the template library knows: its dimensions must be buildable (clear error now, not later).
    spec: PartSpec | None = None
    if kind is not None or kind_of(prompt) is not None:
        parsed = parse_request(prompt, kind)
        spec = resolve(PartSpec(parsed.kind, {**parsed.params, **dict(params)}))
    elif params:
        raise InvalidRequestError(f"params need a part kind (one of {', '.join(sorted(KINDS))})")
    return CadRequest(
        prompt=prompt.strip(),
        conversation_id=_opt_str(body, "conversation_id"),
        ha_user=_opt_str(body, "ha_user"),
        spec=spec,
        variants=variants,
        providers=tuple(providers) if providers else None,
        organic=bool(_ORGANIC_WORDS.search(prompt)) if organic is None else organic,
        code=code,
        image=_opt_str(body, "image", 1000),
        parent_artifact_id=_opt_str(body, "parent_artifact_id", 64),
        offline=offline,
        budget_usd=float(budget) if budget is not None else None,
        raw=dict(body),
    )
