"""Rate limits and daily quotas shared by every worker through the database.

:class:`DatabaseRateLimiter` keeps one row per vendor call in ``connector_rate_slots``:
taken before the call is sent, stamped when the answer is back. A new call is admitted
only if, counting every call whose answer came back less than ``per_seconds`` ago and
every call still in flight, fewer than ``calls`` remain in the window, and fewer than
``concurrency`` are in flight. A vendor counts a call at some moment between our sending
it and receiving its answer, so stamping the window with the *later* of the two keeps us
inside the vendor's window whichever moment it picks. A call whose worker died stops
counting as in flight when its lease expires.

The check and the insert happen in one write transaction, serialised per limiter
(``store.locks.lock_until_commit``: an advisory lock on the limiter's key, where write
transactions do not already run one at a time). Nothing lives in process memory, so
limits hold across processes, machines sharing the database, and restarts.

:class:`DatabaseDailyQuota` counts calls per vendor day in ``connector_quota_days``, with
one atomic ``INSERT ... ON CONFLICT DO UPDATE ... WHERE used + n <= quota`` per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, select, update

from renkei.clock import Clock
from renkei.connectors.errors import QuotaExhaustedError, RateLimitedError
from renkei.connectors.limits import QuotaUsage
from renkei.connectors.spec import QuotaSpec, RateLimitSpec
from renkei.store.database import Database
from renkei.store.locks import lock_until_commit
from renkei.store.statements import upsert
from renkei.store.tables.connectors import connector_quota_days, connector_rate_slots

__all__ = ["DatabaseDailyQuota", "DatabaseRateLimiter", "RateUsage"]

slots = connector_rate_slots
quota_days = connector_quota_days

# A window slot whose call never reports back (its worker died) still counts as in flight
# until this long after it was taken; longer than any HTTP timeout.
DEFAULT_LEASE_SECONDS = 300.0
# How long to wait before looking again when the concurrency cap is what is full (nothing
# tells us when a call in flight will come back): doubling from the first to the last.
CONCURRENCY_POLL_SECONDS = (0.05, 1.0)
_NO_WINDOW = timedelta(0)


@dataclass(frozen=True)
class RateUsage:
    """A limiter right now: calls counted in the window and calls in flight."""

    calls: int | None
    per_seconds: float
    concurrency: int | None
    in_window: int
    in_flight: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "per_seconds": self.per_seconds,
            "concurrency": self.concurrency,
            "in_window": self.in_window,
            "in_flight": self.in_flight,
            "remaining": None if self.calls is None else max(0, self.calls - self.in_window),
        }


class DatabaseRateLimiter:
    """A :class:`~renkei.connectors.limits.RateLimiter` shared through the database.

    ``acquire`` waits in process (on ``clock``) for up to ``max_wait`` seconds in all; when
    the slot is further away it raises :class:`RateLimitedError` with the wait as
    ``retry_after``, so that a queued job is parked instead of holding a worker.
    """

    def __init__(
        self,
        database: Database,
        name: str,
        limit: RateLimitSpec,
        *,
        clock: Clock,
        holder: str = "",
        max_wait: float = 0.0,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        if limit.calls is None and limit.concurrency is None:
            raise ValueError("a rate limit needs calls per window, a concurrency cap, or both")
        self.database = database
        self.name = name
        self.limit = limit
        self._clock = clock
        self._holder = holder[:120]
        self._max_wait = max_wait
        self._lease = timedelta(seconds=lease_seconds)
        self._period = (
            timedelta(seconds=limit.per_seconds) if limit.calls is not None else _NO_WINDOW
        )

    async def acquire(self) -> str:
        waited = 0.0
        first, last = CONCURRENCY_POLL_SECONDS
        polls = 0
        while True:
            lease, wait, reason = await self._try_acquire()
            if lease is not None:
                return lease
            if wait <= 0:  # the concurrency cap: poll, less and less often
                wait = min(last, first * 2**polls)
                polls += 1
            if waited + wait > self._max_wait:
                raise RateLimitedError(
                    f"{reason} for {self.name}; trying again in {wait:.2f} s",
                    retry_after=wait,
                    code="rate_limit_window" if "window" in reason else "concurrency_limit",
                )
            await self._clock.sleep(wait)
            waited += wait

    async def release(self, lease: str) -> None:
        async with self.database.transaction() as connection:
            await connection.execute(
                update(slots)
                .where(slots.c.id == int(lease), slots.c.released_at.is_(None))
                .values(released_at=self._clock.now())
            )

    async def usage(self) -> RateUsage:
        now = self._clock.now()
        async with self.database.read() as connection:
            rows = (await connection.execute(self._live_rows(now))).all()
        window = [row for row in rows if self._in_window(row, now)]
        flying = [row for row in rows if self._in_flight(row, now)]
        return RateUsage(
            self.limit.calls,
            self.limit.per_seconds,
            self.limit.concurrency,
            len(window),
            len(flying),
        )

    async def _try_acquire(self) -> tuple[str | None, float, str]:
        calls, concurrency = self.limit.calls, self.limit.concurrency
        async with self.database.transaction() as connection:
            # The only transaction working on this limiter until commit.
            await lock_until_commit(connection, f"renkei.limiter:{self.name}")
            now = self._clock.now()
            await connection.execute(
                delete(slots).where(slots.c.limiter == self.name, ~self._live(now))
            )
            rows = (await connection.execute(self._live_rows(now))).all()
            flying = [row for row in rows if self._in_flight(row, now)]
            if concurrency is not None and len(flying) >= concurrency:
                return None, 0.0, f"{concurrency} calls already in flight"
            if calls is not None:
                ends = sorted(self._end(row, now) for row in rows if self._in_window(row, now))
                if len(ends) >= calls:
                    # The slot frees when enough of the oldest calls have left the window.
                    frees_at = ends[len(ends) - calls] + self._period
                    wait = max((frees_at - now).total_seconds(), 0.001)
                    period = f"{self.limit.per_seconds:g} s"
                    return None, wait, f"window of {calls} calls per {period} is full"
            lease = await connection.execute(
                insert(slots)
                .values(
                    limiter=self.name,
                    holder=self._holder,
                    acquired_at=now,
                    expires_at=now + self._lease,
                )
                .returning(slots.c.id)
            )
            return str(lease.scalar_one()), 0.0, ""

    # A slot counts in the window from when it was taken until ``per_seconds`` after its
    # call came back (or after its lease ran out, for a call whose worker died).

    def _live(self, now: datetime) -> Any:
        ended = func.coalesce(slots.c.released_at, slots.c.expires_at)
        return or_(
            ended > now - self._period,
            and_(slots.c.released_at.is_(None), slots.c.expires_at > now),
        )

    def _live_rows(self, now: datetime) -> Any:
        return select(slots.c.released_at, slots.c.expires_at).where(
            slots.c.limiter == self.name, self._live(now)
        )

    @staticmethod
    def _in_flight(row: Any, now: datetime) -> bool:
        return row.released_at is None and row.expires_at > now

    def _end(self, row: Any, now: datetime) -> datetime:
        if row.released_at is not None:
            return row.released_at  # type: ignore[no-any-return]
        return now if row.expires_at > now else row.expires_at  # type: ignore[no-any-return]

    def _in_window(self, row: Any, now: datetime) -> bool:
        return self._end(row, now) > now - self._period or self._in_flight(row, now)


class DatabaseDailyQuota:
    """A :class:`~renkei.connectors.limits.DailyQuota` shared through the database: ``quota``
    calls per vendor day (which starts at the spec's reset time in its time zone)."""

    def __init__(self, database: Database, name: str, quota: QuotaSpec, *, clock: Clock) -> None:
        self.database = database
        self.name = name
        self.spec = quota
        self._clock = clock

    async def consume(self, calls: int = 1) -> QuotaUsage:
        now = self._clock.now()
        resets_at = self.spec.next_reset(now)
        limit = self.spec.calls
        used = None
        if calls <= limit:
            statement = upsert(
                self.database,
                quota_days,
                keys=["limiter", "resets_at"],
                values={
                    "limiter": self.name,
                    "resets_at": resets_at,
                    "quota": limit,
                    "used": calls,
                    "updated_at": now,
                },
                set_={"used": quota_days.c.used + calls, "quota": limit, "updated_at": now},
                where=quota_days.c.used + calls <= limit,
            ).returning(quota_days.c.used)
            async with self.database.transaction() as connection:
                used = (await connection.execute(statement)).scalar_one_or_none()
        if used is None:
            raise QuotaExhaustedError(
                f"daily quota of {limit} calls for {self.name} is used up until "
                f"{resets_at.isoformat()}",
                resets_at=resets_at,
            )
        return QuotaUsage(limit=limit, used=int(used), resets_at=resets_at)

    async def exhaust(self) -> QuotaUsage:
        """The vendor says today's quota is spent: refuse every call until the reset."""
        now = self._clock.now()
        resets_at = self.spec.next_reset(now)
        limit = self.spec.calls
        statement = upsert(
            self.database,
            quota_days,
            keys=["limiter", "resets_at"],
            values={
                "limiter": self.name,
                "resets_at": resets_at,
                "quota": limit,
                "used": limit,
                "updated_at": now,
            },
            set_={
                "used": case((quota_days.c.used < limit, limit), else_=quota_days.c.used),
                "updated_at": now,
            },
        )
        async with self.database.transaction() as connection:
            await connection.execute(statement)
        return QuotaUsage(limit=limit, used=limit, resets_at=resets_at)

    async def usage(self) -> QuotaUsage:
        resets_at = self.spec.next_reset(self._clock.now())
        async with self.database.read() as connection:
            used = (
                await connection.execute(
                    select(quota_days.c.used).where(
                        quota_days.c.limiter == self.name, quota_days.c.resets_at == resets_at
                    )
                )
            ).scalar_one_or_none()
        return QuotaUsage(limit=self.spec.calls, used=int(used or 0), resets_at=resets_at)
