"""Conversation context that outlives HA's 5-minute chat sessions and HA restarts.

HA keeps a ChatLog in memory only and forgets it after 5 idle minutes; a client that sends the
old conversation id then gets a fresh session under a new id. We keep the text turns of every
conversation (HA's Store, on disk) and put them back into the new ChatLog, keyed by the old
conversation id, or, when a satellite starts over without one, by the device it speaks from.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

STORAGE_VERSION = 1
MAX_TURNS = 20  # text turns kept per conversation (user + assistant)
MAX_CONVERSATIONS = 500
KEEP_FOR = timedelta(days=7)
DEVICE_FOLLOW_UP = timedelta(minutes=30)  # "turn it off" from the same satellite, later on
SAVE_DELAY_S = 2


class Turn(TypedDict):
    """One text turn."""

    role: str  # "user" | "assistant"
    content: str


class _Conversation(TypedDict):
    updated: str
    device: str | None
    turns: list[Turn]


class _Data(TypedDict):
    conversations: dict[str, _Conversation]
    aliases: dict[str, str]  # new conversation id -> the id whose context it continues


class ContextStore:
    """Per-entry persisted conversation turns."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Bind to the entry's storage file (loaded by async_load)."""
        self._store: Store[_Data] = Store(hass, STORAGE_VERSION, f"jarvis.context.{entry_id}")
        self._data: _Data = {"conversations": {}, "aliases": {}}

    async def async_load(self) -> None:
        """Read what earlier runs kept."""
        if stored := await self._store.async_load():
            self._data = stored
        self._prune(dt_util.utcnow())

    def _key(self, conversation_id: str) -> str:
        return self._data["aliases"].get(conversation_id, conversation_id)

    def history(
        self, requested_id: str | None, current_id: str, device: str | None, now: datetime
    ) -> list[Turn]:
        """Turns to restore into a ChatLog that starts empty (HA forgot it, or a satellite started over).

        Links current_id to the conversation it continues, so later turns extend the same one.
        """
        source: str | None = None
        if requested_id and self._key(requested_id) in self._data["conversations"]:
            source = self._key(requested_id)
        elif device and not requested_id:
            source = self._latest_for_device(device, now)
        if source is None or source == current_id:
            return []
        self._data["aliases"][current_id] = source
        return list(self._data["conversations"][source]["turns"])

    def _latest_for_device(self, device: str, now: datetime) -> str | None:
        best: tuple[str, str] | None = None
        for conv_id, conv in self._data["conversations"].items():
            if conv["device"] == device and (best is None or conv["updated"] > best[1]):
                best = (conv_id, conv["updated"])
        if best is None:
            return None
        updated = dt_util.parse_datetime(best[1])
        if updated is None or now - updated > DEVICE_FOLLOW_UP:
            return None
        return best[0]

    def record(
        self, conversation_id: str, device: str | None, turns: list[Turn], now: datetime
    ) -> None:
        """Keep the latest text turns of a conversation (saved shortly after, in the background)."""
        key = self._key(conversation_id)
        self._data["conversations"][key] = {
            "updated": now.isoformat(),
            "device": device,
            "turns": turns[-MAX_TURNS:],
        }
        self._prune(now)
        self._store.async_delay_save(lambda: self._data, SAVE_DELAY_S)

    async def async_flush(self) -> None:
        """Write now (unload, tests)."""
        await self._store.async_save(self._data)

    def _prune(self, now: datetime) -> None:
        conversations = self._data["conversations"]
        cutoff = (now - KEEP_FOR).isoformat()
        for conv_id in [c for c, v in conversations.items() if v["updated"] < cutoff]:
            del conversations[conv_id]
        if len(conversations) > MAX_CONVERSATIONS:
            oldest = sorted(conversations, key=lambda c: conversations[c]["updated"])
            for conv_id in oldest[: len(conversations) - MAX_CONVERSATIONS]:
                del conversations[conv_id]
        self._data["aliases"] = {
            new: old for new, old in self._data["aliases"].items() if old in conversations
        }

    def snapshot(self, conversation_id: str) -> dict[str, Any] | None:
        """The stored conversation (for the MQTT mirror and diagnostics)."""
        key = self._key(conversation_id)
        conv = self._data["conversations"].get(key)
        return None if conv is None else {"conversation_id": key, **conv}
