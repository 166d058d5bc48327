"""The part library: reading kinds and dimensions from sentences, and refusing impossible ones."""

from __future__ import annotations

import pytest

from jarvis_addon.cad.errors import InvalidRequestError, UnknownPartError
from jarvis_addon.cad.parts import KINDS, PartSpec, parse_request, resolve


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        (
            "make me a wall bracket for a 40 mm pipe, 3 mm thick",
            "pipe_bracket",
            {"pipe_diameter": 40.0, "thickness": 3.0},
        ),
        ("a 1.5 inch pipe clamp", "pipe_bracket", {"pipe_diameter": 38.1}),
        (
            "an enclosure 80x60x30 mm with 2 mm walls",
            "enclosure",
            {"length": 80.0, "width": 60.0, "height": 30.0, "wall": 2.0},
        ),
        ("box 12 x 8 x 5 cm", "enclosure", {"length": 120.0, "width": 80.0, "height": 50.0}),
        (
            "plate 100x60x3 with 6 M4 holes",
            "plate",
            {"length": 100.0, "width": 60.0, "thickness": 3.0, "holes": 6.0, "hole_diameter": 4.0},
        ),
        (
            "spur gear module 2 with 24 teeth and a 6 mm bore",
            "gear",
            {"module": 2.0, "teeth": 24.0, "bore": 6.0},
        ),
        (
            "spacer 10 mm outer diameter 5.2 mm inner 12 mm tall",
            "spacer",
            {"outer_diameter": 10.0, "inner_diameter": 5.2, "height": 12.0},
        ),
        ("a coat hook 25 mm wide", "hook", {"width": 25.0}),
        ("angle bracket 5 mm thick", "bracket", {"thickness": 5.0}),
    ],
)
def test_sentences_give_kind_and_dimensions(
    text: str, kind: str, expected: dict[str, float]
) -> None:
    spec = parse_request(text)
    assert spec.kind == kind
    assert spec.params == pytest.approx(expected)
    full = resolve(spec)
    assert set(full.params) == set(KINDS[kind].params)  # defaults fill the rest
    assert {k: full.params[k] for k in expected} == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kind", "params", "fragment"),
    [
        ("pipe_bracket", {"thickness": 0.1}, "thickness 0.1 mm is impossible"),
        (
            "pipe_bracket",
            {"pipe_diameter": 40, "thickness": 25},
            "more than half the pipe diameter",
        ),
        ("spacer", {"outer_diameter": 5, "inner_diameter": 6}, "leaves no wall"),
        ("gear", {"module": 1, "teeth": 10, "bore": 20}, "larger than the root circle"),
        ("enclosure", {"length": 20, "width": 20, "wall": 5}, "leave no room inside"),
        ("plate", {"length": 5000}, "length 5000 mm is impossible"),
        ("gear", {"teeth": 20.5}, "teeth must be a whole number"),
        ("bracket", {"thickness": float("nan")}, "finite"),
        ("spacer", {"height": "tall"}, "height must be a number"),
    ],
)
def test_impossible_dimensions_are_refused_with_the_reason(
    kind: str, params: dict[str, object], fragment: str
) -> None:
    with pytest.raises(InvalidRequestError) as err:
        resolve(PartSpec(kind, params))  # type: ignore[arg-type]
    assert fragment in str(err.value)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(InvalidRequestError) as err:
        resolve(PartSpec("spacer", {"outer_diameter": -1, "height": 0}))
    assert "outer_diameter" in str(err.value) and "height" in str(err.value)


def test_unknown_part_kinds_and_parameters() -> None:
    with pytest.raises(
        UnknownPartError, match=r"no template for 'a nice vase'.*known parts are bracket"
    ):
        parse_request("a nice vase")
    with pytest.raises(UnknownPartError, match="unknown part kind 'sprocket_chain'"):
        parse_request("anything", "sprocket_chain")
    with pytest.raises(InvalidRequestError, match="spacer has no parameter colour"):
        resolve(PartSpec("spacer", {"colour": 3}))
    with pytest.raises(InvalidRequestError, match="empty"):
        parse_request("   ")
