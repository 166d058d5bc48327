"""Writes routing decisions to the ledger after the answer, not before it.

A SQLite commit plus the executor hop cost 5-9 ms per request (benchmarks/router_overhead.py),
time the person talking to Assist would wait for a log line; even handing a record to the
executor right away costs the loop a thread wake-up (~1 ms on 2 busy cores). So records queue
here, in order, and are written in batches shortly after the answer; everything that reads the
ledger calls `async_flush` first, so a reader always sees every decision made before it asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import sqlite3

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from .const import LOGGER
from .router.ledger import DecisionRecord, Ledger, LedgerError

WRITE_DELAY_S = 0.5  # after the answer; a crash loses at most this much of the log


class LedgerWriter:
    """One ordered write queue in front of the (synchronous) ledger."""

    def __init__(self, hass: HomeAssistant, ledger: Ledger) -> None:
        """Queue for `ledger`; nothing runs until the first record."""
        self._hass = hass
        self._ledger = ledger
        self._pending: list[DecisionRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._timer: Callable[[], None] | None = None
        self.failed = 0  # records that could not be written (logged one by one)

    @callback
    def async_append(self, record: DecisionRecord) -> None:
        """Queue a record; returns at once, the write follows shortly."""
        self._pending.append(record)
        if self._timer is None:
            self._timer = async_call_later(self._hass, WRITE_DELAY_S, self._start)

    @callback
    def _start(self, _now: object = None) -> None:
        self._timer = None
        if self._pending and (self._task is None or self._task.done()):
            self._task = self._hass.async_create_background_task(
                self._drain(), "jarvis ledger writer"
            )

    async def async_flush(self) -> None:
        """Write every queued record now and wait (failures are logged, never raised)."""
        if self._timer is not None:
            self._timer()
        self._start()
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
            self._start()  # records queued while that batch was written

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            await self._hass.async_add_executor_job(self._write, batch)

    def _write(self, batch: list[DecisionRecord]) -> None:
        for record in batch:
            try:
                self._ledger.append(record)
            except (LedgerError, sqlite3.Error, OSError) as err:
                # The answer (and any action) already happened: report, never fail a request.
                self.failed += 1
                LOGGER.error("Routing decision %s not written to the ledger: %s", record.id, err)
