"""How far to trust one model answer: measured signals, a score, and hard failures.

Pure and deterministic. The signals, best first (docs: reference/llm-routing.md §2):

1. Tool-call validity (structural and semantic). Every proposed call must name an offered tool,
   its arguments must parse and validate against the tool's JSON schema, and argument values
   that name things (name, area, floor, domain, device_class, entity_id) must exist among the
   entities exposed to Assist. Any invalid call is a HARD failure: the answer is never used and
   its calls are never executed. Small models produce schema-valid nonsense such as
   HassTurnOn{name: "namen"}, hence the semantic check.
2. Token logprobs, when the provider returned them: the 10th percentile of token probabilities
   and the 10th percentile of the top-1/top-2 probability margin. Never the mean (length bias).
   Ignored under constrained decoding (JSON schema output), where they reflect the raw
   distribution rather than the answer.
3. Language: refusal and uncertainty phrases ("I don't know", "as an AI", ...) cap the score;
   hedges ("probably", "I think") lower the language signal.
4. Completion: an empty answer with no tool calls is a hard failure; finish_reason "length"
   (truncated) or "content_filter" caps the score.
5. An action request (the user's text starts with a command verb, tools were offered) answered
   without any tool call caps the score: the classic small-model reply "This is a smart home
   assistant." to "Turn on the kitchen lights".
6. A question about the current state of something exposed ("is the kitchen light on?", "what
   is the garage temperature?") answered by a model that cannot have read it (given no tools,
   no tool result earlier in the turn) caps the score the same way: it can only guess, and the
   bundled SmolLM2 answered "The kitchen light is on." with confidence 0.75 while it was off.

score = weighted mean of the graded signals present (WEIGHTS; absent signals do not count, the
rest are renormalised), then lowered to every cap that applies (CAPS).
accepted = no hard failure and score >= threshold.

The normalisation points (LOGPROB_P10_FULL, LOGPROB_MARGIN_FULL) and the weights are starting
values, not fitted ones: every decision is logged with its components so they can be calibrated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
import math
import operator
import re
from typing import Any

from .types import Completion, TokenLogprob, ToolCall, ToolSpec

# Graded signals and their weights (renormalised over the signals present).
# Validity is mainly a gate (an invalid call is a hard failure); its weight is kept small so that,
# when logprobs are present, they decide whether a valid call is the right one: with 0.2, weak
# logprobs (both 0.3) reject a valid call at the default threshold, fair ones (0.5) accept it.
WEIGHTS: Mapping[str, float] = {
    "tool_validity": 0.2,
    "logprob_p10": 0.3,
    "logprob_margin": 0.3,
    "language": 0.2,
}
# Caps: the score is lowered to at most this value when the condition holds.
CAPS: Mapping[str, float] = {
    "uncertain": 0.3,  # refusal or uncertainty language
    "content_filter": 0.3,
    "truncated": 0.4,  # finish_reason == "length"
    "action_without_tool_call": 0.4,
    "state_not_read": 0.4,
}
LOGPROB_QUANTILE = 0.10
LOGPROB_P10_FULL = 0.4  # p10 of token probabilities at or above this earns full credit
LOGPROB_MARGIN_FULL = 0.3  # p10 of top-1/top-2 margins at or above this earns full credit
HEDGE_PENALTY = 0.25  # per hedge phrase, on the language signal
HEDGE_FLOOR = 0.5

HARD_FAIL_INVALID_TOOL_CALL = "invalid_tool_call"
HARD_FAIL_EMPTY = "empty"


def _norm(value: str) -> str:
    """Case-insensitive, whitespace-insensitive, without surrounding quotes or punctuation."""
    return " ".join(value.casefold().split()).strip(" .,!?;:'\"`")


def _norm_set(values: Iterable[str]) -> frozenset[str]:
    return frozenset(n for v in values if (n := _norm(v)))


@dataclass(frozen=True, slots=True)
class ExposedContext:
    """What tool calls may name: the entities exposed to Assist, their names, areas, domains.

    Values are normalised on construction (lower case, single spaces). names holds friendly
    names and aliases; areas names and aliases. floors and device_classes are checked only when
    given (None: not known here, so not checked). Domains of the entity_ids are added to domains.
    """

    entity_ids: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    areas: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    floors: frozenset[str] | None = None
    device_classes: frozenset[str] | None = None

    def __post_init__(self) -> None:
        """Normalise every name once, so lookups are plain set membership."""
        entity_ids = _norm_set(self.entity_ids)
        object.__setattr__(self, "entity_ids", entity_ids)
        object.__setattr__(self, "names", _norm_set(self.names))
        object.__setattr__(self, "areas", _norm_set(self.areas))
        object.__setattr__(
            self,
            "domains",
            _norm_set(self.domains) | {e.split(".", 1)[0] for e in entity_ids if "." in e},
        )
        if self.floors is not None:
            object.__setattr__(self, "floors", _norm_set(self.floors))
        if self.device_classes is not None:
            object.__setattr__(self, "device_classes", _norm_set(self.device_classes))


@dataclass(frozen=True, slots=True)
class ConfidenceReport:
    """The verdict on one answer, with every measured signal for the decision ledger."""

    score: float
    components: dict[str, float]
    reasons: list[str]
    accepted: bool
    hard_fail: str | None  # human-readable; None when there is no hard failure
    hard_fail_kind: str | None = None  # HARD_FAIL_INVALID_TOOL_CALL or HARD_FAIL_EMPTY
    invalid_tool_calls: tuple[str, ...] = ()  # one message per invalid call
    threshold: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return {
            "score": self.score,
            "threshold": self.threshold,
            "accepted": self.accepted,
            "hard_fail": self.hard_fail,
            "hard_fail_kind": self.hard_fail_kind,
            "components": dict(self.components),
            "reasons": list(self.reasons),
            "invalid_tool_calls": list(self.invalid_tool_calls),
        }


# -- JSON schema (the subset voluptuous_openapi emits) ---------------------------------------------

_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    tuple: "array",
    dict: "object",
    type(None): "null",
}


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _is_type(value: object, type_name: str) -> bool:
    match type_name:
        case "string":
            return isinstance(value, str)
        case "integer":
            if isinstance(value, bool):
                return False
            return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "boolean":
            return isinstance(value, bool)
        case "array":
            return isinstance(value, list | tuple)
        case "object":
            return isinstance(value, dict)
        case "null":
            return value is None
    return True  # an unknown type name constrains nothing


def _same(a: object, b: object) -> bool:
    """JSON equality: True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _where(path: str) -> str:
    return f"argument {path!r}" if path else "arguments"


def validate_schema(value: Any, schema: Any, path: str = "") -> list[str]:
    """Errors of value against a JSON schema (empty: valid).

    Supports type (a name or a list of names), nullable, enum, const, properties, required,
    additionalProperties (bool or schema), items, anyOf, oneOf, allOf, minimum, maximum,
    exclusiveMinimum, exclusiveMaximum, minLength, maxLength, minItems, maxItems. Other keywords
    (format, description, default, ...) are ignored.
    """
    errors: list[str] = []
    _validate(value, schema, path, errors)
    return errors


def _validate(value: Any, schema: Any, path: str, errors: list[str]) -> None:
    if not isinstance(schema, dict):
        if schema is False:
            errors.append(f"{_where(path)} is not allowed")
        return
    if value is None and schema.get("nullable") is True:
        return
    for sub in schema.get("allOf", ()):
        _validate(value, sub, path, errors)
    if "anyOf" in schema and not any(not validate_schema(value, s, path) for s in schema["anyOf"]):
        errors.append(f"{_where(path)} matches none of the allowed forms")
    if "oneOf" in schema:
        matches = sum(1 for s in schema["oneOf"] if not validate_schema(value, s, path))
        if matches != 1:
            errors.append(f"{_where(path)} must match exactly one allowed form (matches {matches})")
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        shown = ", ".join(repr(o) for o in list(schema["enum"])[:8])
        errors.append(f"{_where(path)} must be one of {shown} (got {value!r})")
    if "const" in schema and not _same(value, schema["const"]):
        errors.append(f"{_where(path)} must be {schema['const']!r} (got {value!r})")
    declared = schema.get("type")
    if declared is not None:
        types = [declared] if isinstance(declared, str) else list(declared)
        if schema.get("nullable") is True:
            types.append("null")
        if not any(_is_type(value, t) for t in types):
            errors.append(f"{_where(path)} must be {' or '.join(types)} (got {_json_type(value)})")
            return
    if isinstance(value, dict):
        _validate_object(value, schema, path, errors)
    elif isinstance(value, list | tuple):
        _validate_array(value, schema, path, errors)
    elif isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{_where(path)} is shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{_where(path)} is longer than {schema['maxLength']} characters")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _validate_number(value, schema, path, errors)


def _validate_object(
    value: dict[str, Any], schema: dict[str, Any], path: str, errors: list[str]
) -> None:
    properties = schema.get("properties") or {}
    errors.extend(
        f"{_where(_join(path, key))} is required"
        for key in schema.get("required", ())
        if key not in value
    )
    additional = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            _validate(item, properties[key], _join(path, key), errors)
        elif additional is False:
            errors.append(f"{_where(_join(path, key))} is not a parameter")
        elif isinstance(additional, dict):
            _validate(item, additional, _join(path, key), errors)


def _validate_array(
    value: list[Any] | tuple[Any, ...], schema: dict[str, Any], path: str, errors: list[str]
) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{_where(path)} needs at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{_where(path)} allows at most {schema['maxItems']} items")
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            _validate(item, items, f"{path}[{index}]", errors)


_BOUNDS: tuple[tuple[str, Callable[[float, float], bool], str], ...] = (
    ("minimum", operator.lt, "at least"),
    ("maximum", operator.gt, "at most"),
    ("exclusiveMinimum", operator.le, "greater than"),
    ("exclusiveMaximum", operator.ge, "less than"),
)


def _validate_number(value: float, schema: dict[str, Any], path: str, errors: list[str]) -> None:
    if not math.isfinite(value):
        errors.append(f"{_where(path)} must be a finite number")
        return
    for keyword, violated, words in _BOUNDS:
        bound = schema.get(keyword)
        if (
            isinstance(bound, int | float)
            and not isinstance(bound, bool)
            and violated(value, bound)
        ):
            errors.append(f"{_where(path)} must be {words} {bound} (got {value})")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# -- semantic check: names must exist among the exposed entities ----------------------------------

# argument key -> (what it names, the ExposedContext field it must be in)
_INTENT_NAMING_KEYS: Mapping[str, tuple[str, str]] = {
    "name": ("entity", "names"),
    "area": ("area", "areas"),
    "floor": ("floor", "floors"),
    "domain": ("domain", "domains"),
    "device_class": ("device class", "device_classes"),
}
# These name entities whatever the tool (HA intents, generic service-call tools).
_ENTITY_KEYS = frozenset({"entity_id", "entity_ids"})


def _is_intent_tool(tool_name: str) -> bool:
    """HA intent tools (HassTurnOn, ...; "assist__HassTurnOn" under a merged API)."""
    return tool_name.rsplit("__", 1)[-1].startswith("Hass")


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def semantic_errors(call: ToolCall, exposed: ExposedContext) -> list[str]:
    """Argument values that name entities, areas, floors, domains or device classes that do not exist.

    HA intent tools (names starting with "Hass") are checked on name, area, floor, domain and
    device_class; every tool is checked on entity_id / entity_ids. Other tools' arguments (script
    fields) are the script's business.
    """
    errors: list[str] = []
    intent = _is_intent_tool(call.name)
    for key, value in call.arguments.items():
        if key in _ENTITY_KEYS:
            what, allowed = "entity_id", exposed.entity_ids
        elif intent and key in _INTENT_NAMING_KEYS:
            what, field_name = _INTENT_NAMING_KEYS[key]
            known: frozenset[str] | None = getattr(exposed, field_name)
            if known is None:
                continue
            allowed = known
        else:
            continue
        # A model may name an entity by its entity_id.
        also = exposed.entity_ids if key == "name" else frozenset()
        errors.extend(
            f"{call.name} names unknown {what} {item!r}"
            for item in _values(value)
            if not isinstance(item, str)
            or ((norm := _norm(item)) not in allowed and norm not in also)
        )
    return errors


def tool_call_errors(
    call: ToolCall, tools_by_name: Mapping[str, ToolSpec], exposed: ExposedContext
) -> list[str]:
    """Why this call must not run (empty: valid)."""
    if call.parse_error is not None:
        return [f"{call.name} arguments do not parse: {call.parse_error}"]
    tool = tools_by_name.get(call.name)
    if tool is None:
        return [f"{call.name!r} is not one of the offered tools"]
    errors = [f"{call.name}: {e}" for e in validate_schema(call.arguments, tool.parameters)]
    if errors:
        return errors
    return semantic_errors(call, exposed)


# -- language ------------------------------------------------------------------------------------

_UNCERTAIN = re.compile(
    r"\b(i'?m not (sure|certain)|i am not (sure|certain)|not entirely sure|i (don'?t|do not) know|"
    r"i have no idea|no idea|i'?m unable to|i am unable to|i (cannot|can'?t|could not|couldn'?t)|"
    r"i'?m not able to|i am not able to|as an ai|as a (large )?language model|i (don'?t|do not) "
    r"have (access|real-time|realtime|current|up-to-date|information|the ability)|"
    r"my (knowledge|training) (cutoff|cut-off|data)|unable to (determine|verify|find)|"
    r"i'?m sorry, but|i apologi[sz]e, but)\b"
)
_HEDGES = re.compile(
    r"\b(i think|i believe|i guess|i suppose|probably|possibly|perhaps|maybe|might be|may be|"
    r"it seems|it appears|likely|presumably|not sure if|if i recall|as far as i know)\b"
)
_COMMAND = re.compile(
    r"^((hey |ok |okay )?jarvis,? )?(please )?((can|could|would|will) you (please )?)?(turn|switch|"
    r"set|dim|brighten|open|close|shut|lock|unlock|start|stop|pause|resume|cancel|activate|"
    r"deactivate|arm|disarm|toggle|preheat|raise|lower|increase|decrease|mute|unmute)\b"
)


def _plain(text: str) -> str:
    return " ".join(text.casefold().replace("\u2019", "'").replace("\u2018", "'").split())


def is_action_request(text: str) -> bool:
    """The user's text starts with a device command verb ("turn on ...", "could you lock ...")."""
    return _COMMAND.search(_plain(text)) is not None


_STATE_WORDS = (
    r"on|off|open|opened|closed|shut|locked|unlocked|running|printing|idle|paused|home|away|"
    r"armed|disarmed|playing|charging|heating|cooling|online|offline|active|triggered|wet|dry"
)
# "is/are ... on?", "which lights are on", "what is the ... temperature", "how warm is ...".
_STATE_QUESTION = re.compile(
    rf"^(?:(?:is|are|was|were)\b.*\b(?:{_STATE_WORDS})\b\W*$"
    rf"|(?:which|what|any|how many)\b.*\b(?:is|are)\s+(?:still\s+)?(?:{_STATE_WORDS})\b"
    r"|(?:what(?:'s| is| are)|tell me)\b.*\b(?:temperature|humidity|state|status|brightness|"
    r"progress|battery|power|level|position|reading)s?\b"
    r"|how\s+(?:warm|hot|cold|humid|bright|far along)\b)"
)
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    # Singular forms, so "the kitchen light" names "Kitchen Lights" and the other way round.
    return {
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
        for w in _WORD.findall(text)
    }


def is_state_question(text: str, exposed: ExposedContext) -> bool:
    """The user asks for the current state of something exposed (a name or area it mentions)."""
    plain = _plain(text)
    if _STATE_QUESTION.search(plain) is None:
        return False
    said = _words(plain)
    for name in (*exposed.names, *exposed.areas):
        wanted = {w for w in _words(name) if not w.isdigit()}
        if wanted and wanted <= said:
            return True
    return False


# -- logprobs -------------------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default); values need not be sorted."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("quantile of no values")
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def logprob_features(logprobs: Sequence[TokenLogprob]) -> tuple[float, float | None]:
    """(p10 of token probabilities, p10 of top-1/top-2 margins or None without alternatives)."""
    probs = [math.exp(min(0.0, t.logprob)) for t in logprobs]
    margins: list[float] = []
    for token in logprobs:
        if not token.top_logprobs:
            continue
        first = second = -math.inf
        chosen_listed = False
        for alternative, logprob in token.top_logprobs:
            chosen_listed = chosen_listed or alternative == token.token
            if logprob > first:
                first, second = logprob, first
            elif logprob > second:
                second = logprob
        if not chosen_listed:  # some providers leave the chosen token out of the alternatives
            if token.logprob > first:
                first, second = token.logprob, first
            elif token.logprob > second:
                second = token.logprob
        runner_up = math.exp(min(0.0, second)) if second > -math.inf else 0.0
        margins.append(math.exp(min(0.0, first)) - runner_up)
    return (
        quantile(probs, LOGPROB_QUANTILE),
        quantile(margins, LOGPROB_QUANTILE) if margins else None,
    )


# -- the assessment -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Signals:
    graded: dict[str, float] = field(default_factory=dict)
    components: dict[str, float] = field(default_factory=dict)
    caps: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def assess(
    completion: Completion,
    *,
    tools: Sequence[ToolSpec],
    exposed: ExposedContext,
    threshold: float,
    request_text: str | None = None,
    constrained: bool = False,
    actions_possible: bool | None = None,
    state_read: bool = False,
) -> ConfidenceReport:
    """Score one answer; see the module docstring for the signals, weights and caps.

    tools: the tools this model was given (a call to any other is invalid).
    request_text: the user's request, for the action-without-tool-call check (optional).
    constrained: the answer came from constrained decoding (JSON schema); logprobs are ignored.
    actions_possible: whether the request could act at all (tools exist for it, even if this
        model was not given them); defaults to whether `tools` is non-empty.
    state_read: the model has (or could have) read live state: a tool result is already in this
        turn, or it was given tools (the cascade decides).
    """
    if actions_possible is None:
        actions_possible = bool(tools)
    signals = _Signals()
    invalid = _check_tool_calls(completion, tools, exposed, signals)
    text = completion.text.strip()
    hard_fail: str | None = None
    hard_fail_kind: str | None = None
    if invalid:
        hard_fail = f"invalid tool call: {invalid[0]}"
        hard_fail_kind = HARD_FAIL_INVALID_TOOL_CALL
    elif not text and not completion.tool_calls:
        hard_fail = "empty answer: no text and no tool calls"
        hard_fail_kind = HARD_FAIL_EMPTY
        signals.reasons.append(hard_fail)
    signals.components["empty"] = 1.0 if not text and not completion.tool_calls else 0.0

    _check_logprobs(completion, constrained, signals)
    if text:
        _check_language(text, signals)
    _check_finish(completion, signals)
    action = False
    if request_text is not None and actions_possible and not completion.tool_calls:
        action = is_action_request(request_text)
        signals.components["action_without_tool_call"] = 1.0 if action else 0.0
        if action:
            signals.caps["action_without_tool_call"] = CAPS["action_without_tool_call"]
            signals.reasons.append("the request is an action but the answer calls no tool")
    if (
        request_text is not None
        and not action
        and not state_read
        and not completion.tool_calls
        and is_state_question(request_text, exposed)
    ):
        signals.components["state_not_read"] = 1.0
        signals.caps["state_not_read"] = CAPS["state_not_read"]
        signals.reasons.append("the request asks for a current state but the answer never read it")

    if hard_fail is not None:
        score = 0.0
    else:
        total_weight = sum(WEIGHTS[name] for name in signals.graded)
        score = (
            sum(WEIGHTS[name] * value for name, value in signals.graded.items()) / total_weight
            if total_weight
            else 0.0
        )
        for cap in signals.caps.values():
            score = min(score, cap)
    score = round(max(0.0, min(1.0, score)), 4)
    for name, value in signals.graded.items():
        signals.components[name] = round(value, 4)
    accepted = hard_fail is None and score >= threshold
    signals.reasons.append(
        f"confidence {score:.2f} {'≥' if score >= threshold else '<'} {threshold:.2f}"
        if hard_fail is None
        else f"hard failure: {hard_fail}"
    )
    return ConfidenceReport(
        score=score,
        components=signals.components,
        reasons=signals.reasons,
        accepted=accepted,
        hard_fail=hard_fail,
        hard_fail_kind=hard_fail_kind,
        invalid_tool_calls=tuple(invalid),
        threshold=threshold,
    )


def _check_tool_calls(
    completion: Completion, tools: Sequence[ToolSpec], exposed: ExposedContext, signals: _Signals
) -> list[str]:
    if not completion.tool_calls:
        return []
    tools_by_name = {tool.name: tool for tool in tools}
    invalid: list[str] = []
    for call in completion.tool_calls:
        errors = tool_call_errors(call, tools_by_name, exposed)
        invalid.extend(errors)
        signals.reasons.extend(f"tool call {e}" for e in errors)
    signals.components["tool_calls"] = float(len(completion.tool_calls))
    signals.components["invalid_tool_calls"] = float(len(invalid))
    signals.graded["tool_validity"] = 0.0 if invalid else 1.0
    if not invalid:
        names = ", ".join(call.name for call in completion.tool_calls)
        signals.reasons.append(f"tool calls valid and name exposed entities: {names}")
    return invalid


def _check_logprobs(completion: Completion, constrained: bool, signals: _Signals) -> None:
    if not completion.logprobs:
        return
    if constrained:
        signals.reasons.append("logprobs ignored: constrained decoding")
        return
    p10, margin = logprob_features(completion.logprobs)
    signals.components["logprob_tokens"] = float(len(completion.logprobs))
    signals.components["logprob_p10_raw"] = round(p10, 4)
    signals.graded["logprob_p10"] = min(1.0, p10 / LOGPROB_P10_FULL)
    reason = f"token probability p10 {p10:.2f}"
    if margin is not None:
        signals.components["logprob_margin_p10_raw"] = round(margin, 4)
        signals.graded["logprob_margin"] = min(1.0, margin / LOGPROB_MARGIN_FULL)
        reason += f", top-1/top-2 margin p10 {margin:.2f}"
    signals.reasons.append(reason)


def _check_language(text: str, signals: _Signals) -> None:
    plain = _plain(text)
    uncertain = _UNCERTAIN.search(plain)
    hedges = _HEDGES.findall(plain)
    signals.components["uncertain"] = 1.0 if uncertain else 0.0
    signals.components["hedges"] = float(len(hedges))
    if uncertain:
        signals.graded["language"] = 0.0
        signals.caps["uncertain"] = CAPS["uncertain"]
        signals.reasons.append(f"refusal or uncertainty in the answer: {uncertain.group(0)!r}")
    elif hedges:
        signals.graded["language"] = max(HEDGE_FLOOR, 1.0 - HEDGE_PENALTY * len(hedges))
        signals.reasons.append(f"hedged answer: {', '.join(repr(h) for h in hedges[:3])}")
    else:
        signals.graded["language"] = 1.0


def _check_finish(completion: Completion, signals: _Signals) -> None:
    reason = completion.finish_reason
    truncated = reason == "length"
    filtered = reason == "content_filter"
    signals.components["finish_ok"] = 0.0 if truncated or filtered else 1.0
    if truncated:
        signals.caps["truncated"] = CAPS["truncated"]
        signals.reasons.append("answer truncated (finish_reason length)")
    elif filtered:
        signals.caps["content_filter"] = CAPS["content_filter"]
        signals.reasons.append("answer stopped by the provider's content filter")
