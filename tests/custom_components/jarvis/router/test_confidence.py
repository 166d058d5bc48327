"""Confidence signals: tool-call validity (schema + exposed entities), logprobs, language, completion."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from custom_components.jarvis.router.confidence import (
    CAPS,
    HARD_FAIL_EMPTY,
    HARD_FAIL_INVALID_TOOL_CALL,
    WEIGHTS,
    ExposedContext,
    assess,
    is_action_request,
    is_state_question,
    logprob_features,
    quantile,
    validate_schema,
)
from custom_components.jarvis.router.types import Completion, TokenLogprob, ToolCall, ToolSpec

# Tool schemas as voluptuous_openapi emits them for HA's Assist API (HA 2026.2).
TARGET = {
    "name": {"type": "string"},
    "area": {"type": "string"},
    "floor": {"type": "string"},
    "domain": {"type": "array", "items": {"type": "string"}},
    "device_class": {
        "type": "array",
        "items": {"type": "string", "enum": ["awning", "blind", "door", "garage", "gate"]},
    },
}
TURN_ON = ToolSpec(
    "HassTurnOn",
    "Turns on/opens a device",
    {"type": "object", "properties": TARGET, "required": []},
)
LIGHT_SET = ToolSpec(
    "HassLightSet",
    "Sets brightness or color",
    {
        "type": "object",
        "properties": {
            **TARGET,
            "brightness": {"type": "integer", "minimum": 0, "maximum": 100},
            "color": {"type": "string"},
        },
        "required": [],
    },
)
NOTIFY_SCRIPT = ToolSpec(
    "notify_shift_lead",
    "Script: message the shift lead",
    {
        "type": "object",
        "properties": {"name": {"type": "string"}, "message": {"type": "string"}},
        "required": ["message"],
    },
)
SERVICE_CALL = ToolSpec(
    "call_service",
    "Generic service call (extended_openai style)",
    {
        "type": "object",
        "properties": {
            "service": {"type": "string"},
            "entity_id": {
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
            },
        },
        "required": ["service", "entity_id"],
        "additionalProperties": False,
    },
)
LIVE_CONTEXT = ToolSpec("GetLiveContext", "Current states", {"type": "object", "properties": {}})
TOOLS = (TURN_ON, LIGHT_SET, NOTIFY_SCRIPT, SERVICE_CALL, LIVE_CONTEXT)

EXPOSED = ExposedContext(
    entity_ids=frozenset(
        {"light.workshop_ceiling", "light.bench_lamp", "switch.dust_collector", "cover.garage_door"}
    ),
    names=frozenset(
        {"Workshop Ceiling", "Bench Lamp", "bench light", "Dust Collector", "Garage Door"}
    ),
    areas=frozenset({"Workshop", "Warehouse"}),
)


def call(tool: str, /, **arguments: Any) -> ToolCall:
    return ToolCall(id="call_1", name=tool, arguments=arguments)


def tool_answer(*calls: ToolCall, **kwargs: Any) -> Completion:
    return Completion(text="", tool_calls=calls, finish_reason="tool_calls", **kwargs)


def check(completion: Completion, threshold: float = 0.6, **kwargs: Any) -> Any:
    return assess(completion, tools=TOOLS, exposed=EXPOSED, threshold=threshold, **kwargs)


def tokens(probs: list[float], alt: list[float] | None = None) -> tuple[TokenLogprob, ...]:
    """Tokens with these probabilities; alt gives each token's runner-up probability."""
    out = []
    for index, p in enumerate(probs):
        top: tuple[tuple[str, float], ...] = ()
        if alt is not None:
            top = ((f"t{index}", math.log(p)), (f"a{index}", math.log(alt[index])))
        out.append(TokenLogprob(token=f"t{index}", logprob=math.log(p), top_logprobs=top))
    return tuple(out)


# -- tool-call validity ----------------------------------------------------------------------------


def test_valid_call_naming_exposed_entity_is_accepted() -> None:
    report = check(tool_answer(call("HassTurnOn", name="Workshop Ceiling")))
    assert report.hard_fail is None
    assert report.accepted
    assert report.components["tool_validity"] == 1.0
    assert report.components["tool_calls"] == 1.0
    assert report.score == 1.0


def test_schema_valid_nonsense_names_are_a_hard_fail() -> None:
    """SmolLM2-135M's real output: schema-valid, semantically empty."""
    report = check(tool_answer(call("HassTurnOn", name="namen", area="aarea")), threshold=0.0)
    assert not report.accepted
    assert report.score == 0.0
    assert report.hard_fail_kind == HARD_FAIL_INVALID_TOOL_CALL
    assert report.hard_fail == "invalid tool call: HassTurnOn names unknown entity 'namen'"
    assert "tool call HassTurnOn names unknown entity 'namen'" in report.reasons
    assert "tool call HassTurnOn names unknown area 'aarea'" in report.reasons
    assert report.components["invalid_tool_calls"] == 2.0


def test_service_call_with_made_up_entity_id_is_a_hard_fail() -> None:
    report = check(
        tool_answer(call("call_service", service="light.turn_on", entity_id="1234567890"))
    )
    assert report.invalid_tool_calls == ("call_service names unknown entity_id '1234567890'",)
    good = check(
        tool_answer(call("call_service", service="light.turn_on", entity_id="light.bench_lamp"))
    )
    assert good.hard_fail is None


def test_entity_id_lists_are_checked_item_by_item() -> None:
    both = ["light.bench_lamp", "light.workshop_ceiling"]
    assert check(
        tool_answer(call("call_service", service="light.turn_on", entity_id=both))
    ).accepted
    one_bad = ["light.bench_lamp", "light.kitchen"]
    report = check(tool_answer(call("call_service", service="light.turn_on", entity_id=one_bad)))
    assert report.invalid_tool_calls == ("call_service names unknown entity_id 'light.kitchen'",)


def test_names_match_case_and_whitespace_insensitively_and_aliases_count() -> None:
    assert check(
        tool_answer(call("HassTurnOn", name="  WORKSHOP   ceiling ", area="workshop"))
    ).accepted
    assert check(tool_answer(call("HassTurnOn", name="Bench Light"))).accepted  # alias
    assert check(tool_answer(call("HassTurnOn", name="light.bench_lamp"))).accepted  # entity id


def test_domains_come_from_entity_ids_and_are_checked() -> None:
    assert EXPOSED.domains == frozenset({"light", "switch", "cover"})
    assert check(tool_answer(call("HassTurnOn", area="Workshop", domain=["light"]))).accepted
    report = check(tool_answer(call("HassTurnOn", area="Workshop", domain=["light", "vacuum"])))
    assert report.invalid_tool_calls == ("HassTurnOn names unknown domain 'vacuum'",)


def test_floors_and_device_classes_are_checked_only_when_known() -> None:
    turn_on_floor = tool_answer(call("HassTurnOn", floor="Mezzanine", device_class=["garage"]))
    assert check(turn_on_floor).accepted
    known = ExposedContext(
        entity_ids=EXPOSED.entity_ids,
        floors=frozenset({"Ground Floor"}),
        device_classes=frozenset({"door"}),
    )
    report = assess(turn_on_floor, tools=TOOLS, exposed=known, threshold=0.6)
    assert report.invalid_tool_calls == (
        "HassTurnOn names unknown floor 'Mezzanine'",
        "HassTurnOn names unknown device class 'garage'",
    )


def test_merged_api_prefix_still_counts_as_an_intent_tool() -> None:
    merged = ToolSpec("assist__HassTurnOn", TURN_ON.description, TURN_ON.parameters)
    report = assess(
        tool_answer(call("assist__HassTurnOn", name="namen")),
        tools=(merged,),
        exposed=EXPOSED,
        threshold=0.6,
    )
    assert report.hard_fail_kind == HARD_FAIL_INVALID_TOOL_CALL


def test_script_fields_are_not_entity_names() -> None:
    report = check(tool_answer(call("notify_shift_lead", name="Alice", message="Printer 2 jammed")))
    assert report.accepted


def test_unknown_tool_and_unparsable_arguments_are_hard_fails() -> None:
    unknown = check(tool_answer(call("HassSelfDestruct", name="Workshop Ceiling")))
    assert unknown.invalid_tool_calls == ("'HassSelfDestruct' is not one of the offered tools",)
    broken = ToolCall(
        id="c",
        name="HassTurnOn",
        arguments={},
        raw_arguments='{"name": "Bench',
        parse_error="unterminated string",
    )
    report = check(tool_answer(broken))
    assert report.invalid_tool_calls == ("HassTurnOn arguments do not parse: unterminated string",)
    no_tools = assess(
        tool_answer(call("HassTurnOn", name="Bench Lamp")), tools=(), exposed=EXPOSED, threshold=0.6
    )
    assert no_tools.hard_fail_kind == HARD_FAIL_INVALID_TOOL_CALL


def test_one_invalid_call_among_valid_ones_fails_the_answer() -> None:
    report = check(
        tool_answer(
            call("HassTurnOn", name="Bench Lamp"),
            ToolCall(id="2", name="HassTurnOn", arguments={"name": "Kitchen"}),
        )
    )
    assert not report.accepted
    assert report.invalid_tool_calls == ("HassTurnOn names unknown entity 'Kitchen'",)


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (
            {"name": "Bench Lamp", "brightness": "50"},
            "argument 'brightness' must be integer (got string)",
        ),
        (
            {"name": "Bench Lamp", "brightness": 150},
            "argument 'brightness' must be at most 100 (got 150)",
        ),
        (
            {"name": "Bench Lamp", "brightness": True},
            "argument 'brightness' must be integer (got boolean)",
        ),
        ({"name": 7}, "argument 'name' must be string (got integer)"),
        ({"device_class": ["garage", "window"]}, "argument 'device_class[1]' must be one of"),
    ],
)
def test_schema_violations_are_hard_fails(arguments: dict[str, Any], error: str) -> None:
    report = check(tool_answer(ToolCall(id="c", name="HassLightSet", arguments=arguments)))
    assert report.hard_fail_kind == HARD_FAIL_INVALID_TOOL_CALL
    assert report.invalid_tool_calls[0].startswith(f"HassLightSet: {error}")


def test_integral_floats_are_integers() -> None:
    assert check(tool_answer(call("HassLightSet", name="Bench Lamp", brightness=50.0))).accepted


def test_required_and_additional_properties() -> None:
    missing = check(tool_answer(call("notify_shift_lead", name="Alice")))
    assert missing.invalid_tool_calls == ("notify_shift_lead: argument 'message' is required",)
    extra = check(
        tool_answer(
            call("call_service", service="light.turn_on", entity_id="light.bench_lamp", color="red")
        )
    )
    assert extra.invalid_tool_calls == ("call_service: argument 'color' is not a parameter",)
    # Without additionalProperties: false, JSON Schema allows unknown keys (HA intents ignore them).
    assert check(tool_answer(call("HassTurnOn", name="Bench Lamp", speed="fast"))).accepted


# -- the schema validator on its own --------------------------------------------------------------


def test_validator_type_lists_nullable_and_unknown_keywords() -> None:
    schema = {"type": ["string", "null"], "format": "date-time", "x-whatever": 1}
    assert validate_schema(None, schema) == []
    assert validate_schema("2026-01-01", schema) == []
    assert validate_schema(3, schema) == ["arguments must be string or null (got integer)"]
    nullable = {"type": "integer", "nullable": True, "enum": [1, 2]}
    assert validate_schema(None, nullable) == []
    assert validate_schema(3, nullable) == ["arguments must be one of 1, 2 (got 3)"]
    assert validate_schema(True, {"enum": [1]}) != []  # True is not 1 in JSON


def test_validator_combinators_and_nesting() -> None:
    any_of = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    assert validate_schema(["a", "b"], any_of) == []
    assert validate_schema([1], any_of) == ["arguments matches none of the allowed forms"]
    one_of = {"oneOf": [{"type": "number"}, {"type": "integer"}]}
    assert validate_schema(1.5, one_of) == []
    assert validate_schema(2, one_of) == [
        "arguments must match exactly one allowed form (matches 2)"
    ]
    all_of = {"allOf": [{"type": "integer"}, {"minimum": 10}]}
    assert validate_schema(5, all_of) == ["arguments must be at least 10 (got 5)"]
    nested = {
        "type": "object",
        "properties": {
            "rgb": {"type": "array", "items": {"type": "integer", "maximum": 255}, "maxItems": 3},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    assert validate_schema({"rgb": [1, 2, 300], "tags": {"a": "x", "b": 2}}, nested) == [
        "argument 'rgb[2]' must be at most 255 (got 300)",
        "argument 'tags.b' must be string (got integer)",
    ]
    assert validate_schema({"rgb": [1, 2, 3, 4]}, nested) == [
        "argument 'rgb' allows at most 3 items"
    ]
    assert validate_schema("abc", {"type": "string", "minLength": 5}) == [
        "arguments is shorter than 5 characters"
    ]
    assert validate_schema(float("nan"), {"type": "number"}) == [
        "arguments must be a finite number"
    ]
    assert validate_schema(1, {"exclusiveMaximum": 1}) == ["arguments must be less than 1 (got 1)"]


# -- logprobs ------------------------------------------------------------------------------------


def test_quantile_interpolates_linearly() -> None:
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert quantile([5.0, 1.0], 0.1) == pytest.approx(1.4)
    assert quantile([0.7], 0.1) == 0.7
    with pytest.raises(ValueError):
        quantile([], 0.1)


def test_confident_and_nonsense_answers_separate() -> None:
    paris = Completion(
        text="Paris.", finish_reason="stop", logprobs=tokens([0.95, 0.9], [0.02, 0.05])
    )
    nonsense = Completion(
        text="This is a smart home assistant.",
        finish_reason="stop",
        logprobs=tokens([0.3, 0.05, 0.2, 0.1, 0.4, 0.15], [0.25, 0.04, 0.15, 0.09, 0.3, 0.1]),
    )
    good, bad = check(paris), check(nonsense)
    assert good.accepted
    assert good.components["logprob_p10"] == 1.0
    assert not bad.accepted
    assert bad.score < 0.6
    assert bad.components["logprob_p10_raw"] < 0.1
    assert bad.components["logprob_margin_p10_raw"] < 0.05


def test_low_quantile_not_mean_catches_a_few_bad_tokens() -> None:
    # 80 % near-certain tokens, 20 % guesses: the mean probability is high, p10 is not.
    probs = [0.98] * 16 + [0.05] * 4
    completion = Completion(text="The answer is 42.", finish_reason="stop", logprobs=tokens(probs))
    mean = sum(probs) / len(probs)
    assert mean > 0.75
    report = check(completion)
    assert report.components["logprob_p10_raw"] == pytest.approx(0.05)
    assert not report.accepted


def test_logprob_signal_is_length_invariant() -> None:
    pattern = [0.9, 0.8, 0.95, 0.6, 0.85]
    short = check(Completion(text="Yes.", finish_reason="stop", logprobs=tokens(pattern * 2)))
    long = check(Completion(text="Yes.", finish_reason="stop", logprobs=tokens(pattern * 40)))
    # The sum of logprobs (or the sequence probability) would fall 20-fold; the quantile stays.
    assert long.components["logprob_p10_raw"] == pytest.approx(
        short.components["logprob_p10_raw"], abs=0.02
    )
    assert long.score == pytest.approx(short.score, abs=0.02)


def test_margin_separates_coin_flips_from_clear_choices() -> None:
    probs = [0.45] * 10
    clear = check(Completion(text="On.", finish_reason="stop", logprobs=tokens(probs, [0.01] * 10)))
    flip = check(Completion(text="On.", finish_reason="stop", logprobs=tokens(probs, [0.44] * 10)))
    assert clear.components["logprob_margin"] == 1.0
    assert flip.components["logprob_margin"] < 0.1
    assert flip.score < clear.score


def test_margin_uses_the_chosen_token_when_alternatives_omit_it() -> None:
    lone = (TokenLogprob("x", math.log(0.9), (("y", math.log(0.05)),)),)
    p10, margin = logprob_features(lone)
    assert p10 == pytest.approx(0.9)
    assert margin == pytest.approx(0.85)
    assert logprob_features(tokens([0.5]))[1] is None


def test_constrained_decoding_ignores_logprobs() -> None:
    completion = Completion(text='{"ok": true}', finish_reason="stop", logprobs=tokens([0.001] * 5))
    report = check(completion, constrained=True)
    assert "logprob_p10" not in report.components
    assert "logprobs ignored: constrained decoding" in report.reasons
    assert report.accepted
    assert not check(completion).accepted


def test_weights_renormalise_over_present_signals() -> None:
    # Tool call (valid), logprobs p10 0.2 and margin 0.1, no text: language absent.
    completion = tool_answer(
        call("HassTurnOn", name="Bench Lamp"), logprobs=tokens([0.2] * 10, [0.1] * 10)
    )
    report = check(completion)
    p10_score = 0.2 / 0.4
    margin_score = 0.1 / 0.3
    expected = (
        WEIGHTS["tool_validity"] * 1.0
        + WEIGHTS["logprob_p10"] * p10_score
        + WEIGHTS["logprob_margin"] * margin_score
    ) / (WEIGHTS["tool_validity"] + WEIGHTS["logprob_p10"] + WEIGHTS["logprob_margin"])
    assert report.score == pytest.approx(expected, abs=1e-4)
    assert "language" not in report.components


# -- language ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I'm not sure which light you mean.",
        "I don\u2019t know the answer to that.",
        "As an AI, I don't have access to real-time data.",
        "I cannot help with that request.",
        "I'm sorry, but I can't find that device.",
    ],
)
def test_refusal_and_uncertainty_cap_the_score(text: str) -> None:
    report = check(
        Completion(text=text, finish_reason="stop", logprobs=tokens([0.99] * 8, [0.001] * 8))
    )
    assert report.score <= CAPS["uncertain"]
    assert report.components["uncertain"] == 1.0
    assert not report.accepted
    assert report.hard_fail is None


def test_hedges_lower_the_language_signal() -> None:
    one = check(Completion(text="It is probably about 21 degrees.", finish_reason="stop"))
    two = check(Completion(text="I think it is maybe 21 degrees.", finish_reason="stop"))
    clean = check(Completion(text="It is 21 degrees.", finish_reason="stop"))
    assert one.components["language"] == 0.75
    assert two.components["language"] == 0.5
    assert clean.components["language"] == 1.0
    assert clean.score == 1.0
    assert one.score < clean.score
    assert "likely" not in str(
        check(Completion(text="That is unlikely.", finish_reason="stop")).reasons
    )


# -- completion ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_answer_is_a_hard_fail(text: str) -> None:
    report = check(Completion(text=text, finish_reason="stop"), threshold=0.0)
    assert report.hard_fail_kind == HARD_FAIL_EMPTY
    assert report.hard_fail == "empty answer: no text and no tool calls"
    assert not report.accepted
    assert report.components["empty"] == 1.0


def test_truncated_and_filtered_answers_are_capped() -> None:
    truncated = check(Completion(text="The steps are: first, heat the", finish_reason="length"))
    assert truncated.score == CAPS["truncated"]
    assert truncated.components["finish_ok"] == 0.0
    assert not truncated.accepted
    assert check(Completion(text="The steps are", finish_reason="length"), threshold=0.4).accepted
    filtered = check(Completion(text="...", finish_reason="content_filter"))
    assert filtered.score == CAPS["content_filter"]


def test_action_request_answered_without_a_tool_call_is_capped() -> None:
    answer = Completion(text="This is a smart home assistant.", finish_reason="stop")
    capped = check(answer, request_text="Turn on the workshop ceiling light")
    assert capped.score == CAPS["action_without_tool_call"]
    assert capped.components["action_without_tool_call"] == 1.0
    assert "the request is an action but the answer calls no tool" in capped.reasons
    assert check(answer).accepted  # without the request text there is nothing to compare
    question = check(answer, request_text="How do I turn on the dust collector?")
    assert question.components["action_without_tool_call"] == 0.0
    assert question.accepted
    no_tools = assess(
        answer, tools=(), exposed=EXPOSED, threshold=0.6, request_text="Turn on the light"
    )
    assert no_tools.accepted


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("Turn on the lights", True),
        ("jarvis, please lock the back door", True),
        ("Could you set the heater to 18", True),
        ("How do I turn on the printer?", False),
        ("Is the door locked?", False),
        ("Settings are stored where?", False),
    ],
)
def test_action_requests(text: str, action: bool) -> None:
    assert is_action_request(text) is action


def test_state_question_answered_without_reading_the_state_is_capped() -> None:
    """What the bundled SmolLM2 did: "The kitchen light is on." (0.75) while it was off."""
    answer = Completion(
        text="The garage door is open.", finish_reason="stop", logprobs=tokens([0.9] * 6)
    )
    guessed = check(answer, request_text="Is the garage door open?")
    assert guessed.score == CAPS["state_not_read"] and not guessed.accepted
    assert guessed.components["state_not_read"] == 1.0
    assert "the request asks for a current state but the answer never read it" in guessed.reasons
    # After a tool result in the turn (GetLiveContext) the same answer stands on its logprobs.
    read = check(answer, request_text="Is the garage door open?", state_read=True)
    assert read.accepted and "state_not_read" not in read.components
    # With no tools at all (no LLM API) nothing could read it either.
    bare = assess(
        answer, tools=(), exposed=EXPOSED, threshold=0.6, request_text="Is the garage door open?"
    )
    assert bare.score == CAPS["state_not_read"] and not bare.accepted
    # Not a question about something exposed: nothing to read.
    trivia = check(answer, request_text="Is the sky blue on Mars?")
    assert trivia.accepted and "state_not_read" not in trivia.components


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("Is the garage door open?", True),
        ("are the garage doors closed", True),
        ("What's the temperature in the workshop?", True),
        ("How warm is the warehouse?", True),
        ("Which lights are on in the workshop?", True),
        ("Is the bench light on?", True),
        ("What nozzle temperature for PETG?", False),  # no exposed name
        ("Is the sky blue?", False),
        ("Turn on the bench lamp", False),
        ("Is it going to rain in the workshop tomorrow?", False),  # no state word
    ],
)
def test_state_questions(text: str, state: bool) -> None:
    assert is_state_question(text, EXPOSED) is state


# -- the report ----------------------------------------------------------------------------------


def test_report_is_deterministic_and_json_safe() -> None:
    completion = Completion(
        text="Probably 21 degrees.",
        finish_reason="stop",
        logprobs=tokens([0.7, 0.9, 0.5], [0.2, 0.05, 0.3]),
    )
    first, second = check(completion), check(completion)
    assert first == second
    data = json.loads(json.dumps(first.to_dict()))
    assert data["score"] == first.score
    assert data["threshold"] == 0.6
    assert set(data["components"]) >= {
        "logprob_p10",
        "logprob_margin",
        "logprob_p10_raw",
        "logprob_margin_p10_raw",
        "logprob_tokens",
        "language",
        "hedges",
        "uncertain",
        "finish_ok",
        "empty",
    }
    assert data["reasons"][-1].startswith("confidence ")


def test_exposed_context_normalises_its_inputs() -> None:
    context = ExposedContext(
        entity_ids=frozenset({"Light.Bench_Lamp"}),
        names=frozenset({" Bench  LAMP "}),
        areas=frozenset({"Shop Floor"}),
    )
    assert context.entity_ids == frozenset({"light.bench_lamp"})
    assert context.names == frozenset({"bench lamp"})
    assert context.areas == frozenset({"shop floor"})
    assert context.domains == frozenset({"light"})
    assert context.floors is None
