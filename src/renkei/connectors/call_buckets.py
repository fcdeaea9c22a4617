"""Per-minute calls and failures per connection (``connection_calls``), for the
``connection_failure_rate`` alert rule.

Every process adds what it counted (:class:`~renkei.connectors.call_counts.CallCounts`)
every ``RENKEI_CONNECTION_CALLS_FLUSH_SECONDS`` and when it stops. A flush adds in the
database (``ON CONFLICT DO UPDATE SET calls = calls + excluded.calls``), so processes
flushing into the same minute at once lose no count; its rows go in connection-id order,
so two flushers that lock rows lock them in the same order and never deadlock.

Counts land in the minute of the flush, not of the call: at most one flush interval late,
which a window of minutes does not notice, and no clock read per call.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors.call_counts import CallCounts
from renkei.store.statements import upsert
from renkei.store.tables.alerts import connection_calls

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["CallCountFlusher", "flush", "minute_of", "prune", "retention"]

log = structlog.get_logger("renkei.connectors")

MIN_RETENTION = timedelta(days=1)


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def retention(window_seconds: float) -> timedelta:
    """How long minutes are kept: a day, or two windows if that is longer (the rule reads
    one; the rest is there to look back on)."""
    return max(MIN_RETENTION, timedelta(seconds=2 * window_seconds))


async def flush(hub: Core, counts: CallCounts) -> int:
    """Add the counts so far to the current minute's rows; the number of rows written.
    Counts a failed flush could not store stay for the next one."""
    taken = counts.take()
    if not taken:
        return 0
    minute = minute_of(hub.clock.now())
    rows = [
        {"connection_id": key, "minute": minute, "calls": calls, "failures": failures}
        for key, (calls, failures) in sorted(taken.items())
    ]
    try:
        async with hub.database.transaction() as tx:
            statement = upsert(
                tx, connection_calls, keys=("connection_id", "minute"), add=("calls", "failures")
            )
            await tx.execute(statement, rows)
    except Exception:
        counts.give_back(taken)
        raise
    return len(rows)


async def prune(tx: AsyncConnection, before: datetime) -> int:
    """Drop the minutes before ``before``; how many rows went."""
    result = await tx.execute(delete(connection_calls).where(connection_calls.c.minute < before))
    return result.rowcount or 0


class CallCountFlusher:
    """The process's flush loop: started with the hub, flushes once more when it stops."""

    def __init__(self, hub: Core, counts: CallCounts) -> None:
        self.hub = hub
        self.counts = counts
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stopping = asyncio.Event()  # on the loop the process serves from
        self._task = asyncio.create_task(self._run(), name="renkei-connection-calls")

    async def stop(self) -> None:
        # Let a flush in progress finish (cancelling it mid-commit could lose or repeat
        # its counts), then flush what came after it.
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        await flush(self.hub, self.counts)

    async def _run(self) -> None:
        every = self.hub.settings.connection_calls_flush_seconds
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=every)
            if self._stopping.is_set():
                return
            try:
                await flush(self.hub, self.counts)
            except Exception as exc:  # the database is away: the counts wait for the next
                log.warning("connection_calls.flush_failed", error=repr(exc))
