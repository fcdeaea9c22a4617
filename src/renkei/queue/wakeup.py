"""Waking workers early: an in-process signal, and LISTEN/NOTIFY on PostgreSQL.

Polling remains the guarantee: a lost notification only delays a job by one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.queue.manager import NOTIFY_CHANNEL, WAKE_FLAG
from renkei.store.database import Database

log = structlog.get_logger("renkei.wakeup")


class Wakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        await wait_for_event(self._event, timeout)
        self._event.clear()


async def wait_for_event(event: asyncio.Event, timeout: float) -> None:
    """Until ``event`` is set or ``timeout`` seconds pass, whichever comes first.

    Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that arrives as
    the event is set, so a worker's loop built on it could outlive its own shutdown
    (seen: a ``renkei worker`` that never exited after SIGTERM). ``asyncio.timeout``
    always lets the cancellation through."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()


class PostgresListener:
    """Holds one connection that LISTENs for new jobs and pokes a :class:`Wakeup`."""

    def __init__(self, database: Database, wakeup: Wakeup) -> None:
        self.database = database
        self.wakeup = wakeup
        self._connection: AsyncConnection | None = None

    async def start(self) -> None:
        try:
            self._connection = await self.database.writer.connect()
            raw = await self._connection.get_raw_connection()
            await raw.driver_connection.add_listener(NOTIFY_CHANNEL, self._on_notify)  # type: ignore[union-attr]
        except Exception:
            log.warning("wakeup.listen_failed", exc_info=True)
            await self.stop()

    def _on_notify(self, *_: Any) -> None:
        self.wakeup.notify()

    async def stop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.invalidate()
                await self._connection.close()
            self._connection = None


def wake_on_commit(database: Database, wakeup: Wakeup) -> None:
    """Poke the in-process worker after any transaction that enqueued jobs."""
    database.on_commit(WAKE_FLAG, wakeup.notify)


__all__ = ["WAKE_FLAG", "PostgresListener", "Wakeup", "wait_for_event", "wake_on_commit"]
