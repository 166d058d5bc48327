"""Is a turn a bare yes or no, and which gated requests did the turn before leave waiting? Pure.

Only a whole, short utterance counts ("yes", "do it", "cancel"): "yes, and turn on the lamp"
is a new request, not an answer, so it goes to the router like any other text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
import re
from typing import Any


class Reply(StrEnum):
    """What a short answer means."""

    YES = "yes"
    NO = "no"


YES_PHRASES = frozenset(
    {
        "yes",
        "yeah",
        "yep",
        "yup",
        "sure",
        "affirmative",
        "confirm",
        "confirmed",
        "i confirm",
        "confirm it",
        "do it",
        "yes do it",
        "go ahead",
        "yes go ahead",
        "go for it",
        "approve",
        "approved",
        "i approve",
        "approve it",
        "yes confirm",
    }
)
NO_PHRASES = frozenset(
    {
        "no",
        "nope",
        "no thanks",
        "no thank you",
        "cancel",
        "cancel it",
        "cancel that",
        "deny",
        "deny it",
        "don't",
        "dont",
        "do not",
        "don't do it",
        "dont do it",
        "do not do it",
        "abort",
        "never mind",
        "nevermind",
    }
)
# Politeness and the wake name around an answer do not change it.
_FILLERS = ("please", "hey", "jarvis", "ok", "okay", "thanks")
_PUNCTUATION = re.compile(r"[^\w\s']+")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower case, no punctuation, single spaces, without fillers at either end."""
    words = _SPACES.sub(" ", _PUNCTUATION.sub(" ", text.lower().replace("\u2019", "'"))).strip()
    for _ in range(3):  # "ok jarvis yes please"
        for filler in _FILLERS:
            if words.startswith(f"{filler} "):
                words = words[len(filler) + 1 :]
            if words.endswith(f" {filler}"):
                words = words[: -len(filler) - 1]
    return words


def classify(text: str) -> Reply | None:
    """YES, NO, or None when the text is anything but a bare answer."""
    if len(text) > 40:  # no bare answer is longer
        return None
    words = normalise(text)
    if words in YES_PHRASES:
        return Reply.YES
    if words in NO_PHRASES:
        return Reply.NO
    return None


def pending_request_ids(tool_results: Iterable[Any]) -> list[str]:
    """Ids of the requests that tool results report as pending, in order, each once.

    Gated tools answer `{"gated": [{"status": "pending", "request_id": ...}, ...]}`; the door
    tool answers `{"status": "pending", "request_id": ...}` itself.
    """
    ids: list[str] = []
    for result in tool_results:
        if not isinstance(result, Mapping):
            continue
        entries = result.get("gated")
        items = [*entries] if isinstance(entries, list) else [result]
        for item in items:
            if (
                isinstance(item, Mapping)
                and item.get("status") == "pending"
                and isinstance(rid := item.get("request_id"), str)
                and rid
                and rid not in ids
            ):
                ids.append(rid)
    return ids
