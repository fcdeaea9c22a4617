"""Time as a dependency.

Everything that waits, retries, suppresses or counts per day asks a :class:`Clock` for
the time instead of calling :func:`time.time`. Production uses :class:`SystemClock`;
tests and demos use :class:`ManualClock`, which only moves when told to.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""

    def time(self) -> float:
        """The current time as unix seconds."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that stands still until :meth:`advance` or :meth:`set` moves it.

    ``sleep`` returns as soon as the clock has been moved past the wake-up time, so code
    that waits on this clock can be driven through hours of schedule in milliseconds.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._moved = asyncio.Condition()

    def now(self) -> datetime:
        return self._now

    def time(self) -> float:
        return self._now.timestamp()

    async def sleep(self, seconds: float) -> None:
        wake_at = self._now + timedelta(seconds=max(0.0, seconds))
        async with self._moved:
            await self._moved.wait_for(lambda: self._now >= wake_at)

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        self._set(self._now + timedelta(seconds=seconds, **delta))
        return self._now

    def set(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware datetime")
        self._set(when.astimezone(UTC))
        return self._now

    def _set(self, when: datetime) -> None:
        self._now = when
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._pending = loop.create_task(self._notify())

    async def _notify(self) -> None:
        async with self._moved:
            self._moved.notify_all()
