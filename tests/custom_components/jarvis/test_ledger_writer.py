"""Decisions are written after the answer, in order, and every reader sees them (flush first)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.jarvis.ledger_writer import WRITE_DELAY_S, LedgerWriter
from custom_components.jarvis.router.ledger import Ledger

from .router.test_ledger import record


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger(tmp_path / "ledger.db")
    yield opened
    opened.close()


async def test_records_are_written_shortly_after_in_order(
    hass: HomeAssistant, ledger: Ledger
) -> None:
    writer = LedgerWriter(hass, ledger)
    for minute in range(3):
        writer.async_append(record(minute, id=f"r{minute}"))
    assert ledger.count() == 0  # nothing on the request path
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=WRITE_DELAY_S + 0.1))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [r.id for r in ledger.query(limit=10)] == ["r2", "r1", "r0"]


async def test_flush_writes_everything_now(hass: HomeAssistant, ledger: Ledger) -> None:
    writer = LedgerWriter(hass, ledger)
    writer.async_append(record(0, id="a"))
    await writer.async_flush()
    assert ledger.count() == 1
    writer.async_append(record(1, id="b"))
    writer.async_append(record(2, id="c"))
    await writer.async_flush()
    assert ledger.count() == 3
    await writer.async_flush()  # nothing queued: returns at once
    # The timer of the flushed records is gone: nothing is written twice.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=WRITE_DELAY_S + 0.1))
    await hass.async_block_till_done()
    assert ledger.count() == 3


async def test_records_queued_during_a_write_are_written_too(
    hass: HomeAssistant, ledger: Ledger
) -> None:
    writer = LedgerWriter(hass, ledger)
    original = ledger.append

    def append_and_queue_another(rec: object) -> None:
        original(rec)  # type: ignore[arg-type]
        if ledger.count() == 1:
            hass.loop.call_soon_threadsafe(writer.async_append, record(5, id="late"))

    ledger.append = append_and_queue_another  # type: ignore[method-assign]
    writer.async_append(record(0, id="first"))
    await writer.async_flush()
    await writer.async_flush()
    assert {r.id for r in ledger.query(limit=10)} == {"first", "late"}


async def test_a_failed_write_is_logged_and_the_rest_still_land(
    hass: HomeAssistant, ledger: Ledger, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = LedgerWriter(hass, ledger)
    writer.async_append(record(0, id="dup"))
    writer.async_append(record(1, id="dup"))  # same id: the ledger refuses the second
    writer.async_append(record(2, id="ok"))
    await writer.async_flush()
    assert writer.failed == 1
    assert "Routing decision dup not written to the ledger" in caplog.text
    assert {r.id for r in ledger.query(limit=10)} == {"dup", "ok"}
    ledger.close()
    writer.async_append(record(3, id="after-close"))
    await writer.async_flush()  # never raises: the answer was already given
    assert writer.failed == 2
