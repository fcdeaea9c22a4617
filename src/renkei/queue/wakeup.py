"""Waking workers early: an in-process signal on commit, and notifications between
processes (:func:`listen_for_jobs`, through ``store.notifications``).

Polling remains the guarantee: a lost notification only delays a job by one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from renkei.queue.manager import NOTIFY_CHANNEL, WAKE_FLAG
from renkei.store.database import Database
from renkei.store.notifications import ChannelListener, notify_after_commit


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


def listen_for_jobs(database: Database, wakeup: Wakeup) -> ChannelListener:
    """A listener (to start and stop) that pokes ``wakeup`` when another process enqueues."""
    return ChannelListener(database, NOTIFY_CHANNEL, wakeup.notify)


def wake_on_commit(
    database: Database, wakeup: Wakeup, *, busy: Callable[[], bool] | None = None
) -> None:
    """Poke the in-process worker after any transaction that enqueued jobs, and, where the
    database cannot do it in the transaction, the other processes' workers when ``busy()``
    says this one cannot take the jobs itself. Waking them on every commit cost more than
    it gave: each woken worker claims in competition for jobs the local one was about to
    take (docs/scaling.md, measured)."""
    database.on_commit(WAKE_FLAG, wakeup.notify)
    notify_after_commit(database, WAKE_FLAG, NOTIFY_CHANNEL, when=busy)


def wake_other_processes(database: Database) -> None:
    """Poke the other processes' workers after any transaction that enqueued jobs, where
    the database cannot do it in the transaction; for processes without a worker."""
    notify_after_commit(database, WAKE_FLAG, NOTIFY_CHANNEL)


__all__ = [
    "WAKE_FLAG",
    "Wakeup",
    "listen_for_jobs",
    "wait_for_event",
    "wake_on_commit",
    "wake_other_processes",
]
