"""Bare yes / no answers, and the pending requests a turn's tool results name."""

from __future__ import annotations

import pytest

from custom_components.jarvis.voice.replies import Reply, classify, normalise, pending_request_ids


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "Yes.",
        "yeah!",
        "Confirm",
        "do it",
        "Do it, please",
        "OK Jarvis, yes please",
        "go ahead",
    ],
)
def test_yes(text: str) -> None:
    assert classify(text) is Reply.YES


@pytest.mark.parametrize(
    "text", ["no", "No!", "cancel", "Cancel that.", "don\u2019t do it", "never mind", "no thanks"]
)
def test_no(text: str) -> None:
    assert classify(text) is Reply.NO


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yes, and turn on the bench lamp",
        "turn on the laser cutter",
        "no idea what the temperature is",
        "ok",
        "please",
        "do it tomorrow",
        "yes " * 20,
    ],
)
def test_anything_else_is_not_an_answer(text: str) -> None:
    assert classify(text) is None


def test_normalise() -> None:
    assert normalise("  Hey Jarvis,   CONFIRM it please! ") == "confirm it"


def test_pending_request_ids() -> None:
    gated_tool = {
        "success": False,
        "gated": [
            {"status": "pending", "request_id": "r1"},
            {"status": "denied", "request_id": None},
            {"status": "pending", "request_id": "r2"},
        ],
    }
    door_tool = {"success": False, "status": "pending", "request_id": "r3"}
    assert pending_request_ids(
        [gated_tool, door_tool, {"status": "pending", "request_id": "r1"}, "text", None]
    ) == ["r1", "r2", "r3"]
    assert pending_request_ids([{"status": "allowed"}, {"gated": "oops"}, {"data": {}}]) == []
