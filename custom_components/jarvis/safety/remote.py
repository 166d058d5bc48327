"""Remote mode: what a remote requester is told when the gate refuses for where they are.

The remote guard itself is policy (a rule without `allow_remote` refuses confirm/dual actions
for a requester who is away or outside the trusted ranges); here is the user-facing side: a plain
answer that says it cannot be done from where they are and what they can do instead, and a
per-turn collector so the agent's answer says it whatever the model wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
import ipaddress

# Refusal codes that are about where the requester is, not about the action itself.
REMOTE_CODE = "remote_requester"
PRESENCE_CODE = "presence_required"
WHERE_CODES = frozenset({REMOTE_CODE, PRESENCE_CODE})

_TURN: ContextVar[list[tuple[str, str]] | None] = ContextVar("jarvis_where_refusals", default=None)


def where_message(code: str, action: str, reason: str) -> str:
    """The answer for a refusal because of where the requester is."""
    if code == PRESENCE_CODE:
        return (
            f"I can't do that for you now: {action} needs you to be there in person ({reason}). "
            "What you can do: ask again once you are at the workshop, or ask someone who is "
            "there to request it."
        )
    return (
        f"I can't do that remotely: {action} needs you on site ({reason}). You are asking "
        "from outside the workshop (away from home, or not from the workshop network or "
        "Tailscale). What you can do: ask again from the workshop or over the workshop's "
        "network or Tailscale, or ask someone on site to request it. Nothing was done and no "
        "request was opened."
    )


def note_refusal(code: str | None, action: str, message: str) -> None:
    """Remember a where-refusal for the current conversation turn (no-op outside one)."""
    refusals = _TURN.get()
    if refusals is not None and code in WHERE_CODES and (action, message) not in refusals:
        refusals.append((action, message))


@contextmanager
def collect_refusals() -> Iterator[list[tuple[str, str]]]:
    """Collect the where-refusals of one turn (tool calls run in tasks that share the list)."""
    refusals: list[tuple[str, str]] = []
    token = _TURN.set(refusals)
    try:
        yield refusals
    finally:
        _TURN.reset(token)


def answer_for(refusals: Iterable[tuple[str, str]]) -> str | None:
    """The turn's answer when something was refused for where the requester is, else None."""
    messages = list(dict.fromkeys(message for _action, message in refusals))
    return " ".join(messages) if messages else None


class NetworkListError(ValueError):
    """A trusted network that is not an IPv4/IPv6 network in CIDR notation."""

    def __init__(self, value: str) -> None:
        """Name the bad entry."""
        super().__init__(f"{value!r} is not a network in CIDR notation (e.g. 192.168.1.0/24)")
        self.value = value


def parse_networks(values: Iterable[str]) -> tuple[str, ...]:
    """Normalised CIDR networks (host bits allowed: 192.168.1.5/24 means 192.168.1.0/24)."""
    networks: list[str] = []
    for raw in values:
        value = str(raw).strip()
        if not value:
            continue
        try:
            networks.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError as err:
            raise NetworkListError(value) from err
    return tuple(dict.fromkeys(networks))
