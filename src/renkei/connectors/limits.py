"""Rate limits and daily quotas: the protocols, and in-memory implementations for one process.

A vendor limits a connection in two ways. A *rate limit* bounds calls per sliding window
("100 calls per 20 s") and calls in flight at once ("10 concurrent"); exceeding it earns a 429
and a wait of seconds, so :meth:`RateLimiter.acquire` waits. A *daily quota* bounds calls per
vendor day, which starts at a fixed local time in the vendor's zone (midnight America/Chicago
for Marketo); running out means waiting hours, so :meth:`DailyQuota.consume` does not wait but
raises :class:`QuotaExhaustedError` with the reset time.

The in-memory classes are exact for a single process. A database-backed implementation shared
by all workers implements the same two protocols (``RateLimiter`` is the one interface of every
outbound rate limit, :mod:`renkei.egress.limits`); :func:`next_reset` is the one place that
knows how a vendor day ends, across daylight-saving changes.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from renkei.clock import Clock, SystemClock
from renkei.connectors.errors import QuotaExhaustedError
from renkei.egress.limits import RateLimiter, hold

__all__ = [
    "DailyQuota",
    "InMemoryDailyQuota",
    "InMemoryRateLimiter",
    "QuotaUsage",
    "RateLimiter",
    "hold",
    "next_reset",
]


@dataclass(frozen=True)
class QuotaUsage:
    limit: int
    used: int
    resets_at: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


class DailyQuota(Protocol):
    async def consume(self, calls: int = 1) -> QuotaUsage:
        """Count ``calls`` against today's quota, or raise QuotaExhaustedError if they don't fit."""

    async def usage(self) -> QuotaUsage:
        """Today's usage, without consuming anything."""


# Implementations may also offer ``async def exhaust(self) -> QuotaUsage``: the vendor said
# the quota is spent (it counts calls we never saw), so refuse everything until the reset.
# ConnectorHTTP calls it when present.


class InMemoryRateLimiter:
    """A sliding-window log plus a semaphore: no window of ``per_seconds`` ever holds more
    than ``calls`` acquisitions, and at most ``concurrency`` leases are out at once."""

    def __init__(
        self,
        calls: int | None,
        per_seconds: float = 1.0,
        *,
        concurrency: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        if (calls is not None and calls < 1) or per_seconds <= 0:
            raise ValueError("a rate limit needs calls >= 1 and per_seconds > 0")
        self._calls = calls
        self._period = timedelta(seconds=per_seconds)
        self._slots = asyncio.Semaphore(concurrency) if concurrency else None
        self._clock = clock or SystemClock()
        self._log: deque[datetime] = deque()
        self._leases = itertools.count(1)

    async def acquire(self) -> str:
        if self._slots is not None:
            await self._slots.acquire()
        try:
            await self._take_window_slot()
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise
        return str(next(self._leases))

    async def release(self, lease: str) -> None:
        if self._slots is not None:
            self._slots.release()

    async def _take_window_slot(self) -> None:
        if self._calls is None:
            return
        while True:
            now = self._clock.now()
            while self._log and self._log[0] <= now - self._period:
                self._log.popleft()
            if len(self._log) < self._calls:
                self._log.append(now)
                return
            # Datetimes, not floats: the wake-up time is exact, so a ManualClock moved to it
            # frees the slot instead of leaving us a rounding error short.
            await self._clock.sleep((self._log[0] + self._period - now).total_seconds())


def next_reset(now: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first instant after ``now`` at which the wall clock in ``zone`` reads ``at`` (UTC).

    Computed on the local calendar, so a vendor day is 23 or 25 hours long across a
    daylight-saving change. A reset time that a spring-forward skips happens that day at the
    same offset as before the change (Python's ``fold=0`` rule).
    """
    if at.tzinfo is not None:
        raise ValueError("reset time-of-day must be naive; the zone gives its meaning")
    local_day = now.astimezone(zone).date()
    for day in (local_day, local_day + timedelta(days=1)):
        candidate = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: tomorrow's reset is always after now")


class InMemoryDailyQuota:
    """``limit`` calls per vendor day ending at ``reset`` local time in ``timezone``."""

    def __init__(
        self,
        limit: int,
        *,
        reset: time = time(0, 0),
        timezone: str = "UTC",
        clock: Clock | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("a daily quota needs limit >= 1")
        self._limit = limit
        self._reset = reset
        self._zone = ZoneInfo(timezone)
        self._clock = clock or SystemClock()
        self._used = 0
        self._resets_at = next_reset(self._clock.now(), reset, self._zone)

    async def consume(self, calls: int = 1) -> QuotaUsage:
        self._roll_over()
        if self._used + calls > self._limit:
            raise QuotaExhaustedError(
                f"daily quota of {self._limit} calls is used up until "
                f"{self._resets_at.isoformat()}",
                resets_at=self._resets_at,
            )
        self._used += calls
        return self._usage()

    async def usage(self) -> QuotaUsage:
        self._roll_over()
        return self._usage()

    async def exhaust(self) -> QuotaUsage:
        """The vendor says today's quota is spent: refuse every call until the reset."""
        self._roll_over()
        self._used = max(self._used, self._limit)
        return self._usage()

    def _roll_over(self) -> None:
        now = self._clock.now()
        if now >= self._resets_at:
            self._used = 0
            self._resets_at = next_reset(now, self._reset, self._zone)

    def _usage(self) -> QuotaUsage:
        return QuotaUsage(limit=self._limit, used=self._used, resets_at=self._resets_at)
