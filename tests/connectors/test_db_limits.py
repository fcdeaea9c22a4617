"""The database-backed rate limiter and daily quota, on SQLite and PostgreSQL: shared by
limiters on separate connection pools (as separate processes would be), and kept across a
restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time, timedelta

import pytest

from renkei.clock import ManualClock
from renkei.connectors import QuotaExhaustedError, QuotaSpec, RateLimitedError, RateLimitSpec
from renkei.connectors.db_limits import DatabaseDailyQuota, DatabaseRateLimiter
from renkei.store import Database

pytestmark = pytest.mark.timeout(120)

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[Callable[[], Database]]:
    """Separate Database objects on one database, each with its own pools."""
    opened: list[Database] = []

    def open_one() -> Database:
        opened.append(Database(database_url))
        return opened[-1]

    yield open_one
    for database in opened:
        await database.dispose()


async def _drive(clock: ManualClock, tasks: list[asyncio.Task[None]], step: float) -> None:
    for _ in range(5000):
        await asyncio.sleep(0.002)  # let database round trips finish
        if all(task.done() for task in tasks):
            for task in tasks:
                task.result()
            return
        clock.advance(step)
    raise AssertionError("callers did not finish")


async def test_window_and_concurrency_hold_across_limiters_sharing_the_database(
    databases: Callable[[], Database],
) -> None:
    clock = ManualClock(START)
    limit = RateLimitSpec(calls=5, per_seconds=10.0, concurrency=2)
    limiters = [
        DatabaseRateLimiter(databases(), "conn_x", limit, clock=clock, max_wait=3600)
        for _ in range(2)
    ]
    calls: list[tuple[datetime, datetime]] = []
    in_flight = peak = 0

    async def call(n: int) -> None:
        nonlocal in_flight, peak
        limiter = limiters[n % 2]
        lease = await limiter.acquire()
        started = clock.now()
        in_flight += 1
        peak = max(peak, in_flight)
        await clock.sleep(0.5)
        in_flight -= 1
        calls.append((started, clock.now()))
        await limiter.release(lease)

    tasks = [asyncio.create_task(call(n)) for n in range(24)]
    await _drive(clock, tasks, step=0.25)

    assert len(calls) == 24
    assert peak <= 2
    window = timedelta(seconds=10)
    # Whenever the vendor counts a call (sent, or answered), no window holds more than 5.
    for moments in ([s for s, _ in calls], [e for _, e in calls]):
        busiest = max(sum(1 for m in moments if t - window < m <= t) for t in moments)
        assert busiest <= 5
    assert max(e for _, e in calls) - START >= timedelta(seconds=40)  # 24 calls at 5/10 s


async def test_the_window_survives_a_restart(databases: Callable[[], Database]) -> None:
    clock = ManualClock(START)
    limit = RateLimitSpec(calls=3, per_seconds=20.0)
    before = DatabaseRateLimiter(databases(), "conn_y", limit, clock=clock)
    for _ in range(3):
        await before.release(await before.acquire())
    await before.database.dispose()

    after = DatabaseRateLimiter(databases(), "conn_y", limit, clock=clock)
    with pytest.raises(RateLimitedError) as caught:
        await after.acquire()
    assert caught.value.retry_after == pytest.approx(20.0)
    usage = await after.usage()
    assert (usage.in_window, usage.in_flight) == (3, 0)
    clock.advance(20)
    await after.release(await after.acquire())
    # other limiters are not affected
    other = DatabaseRateLimiter(databases(), "conn_z", limit, clock=clock)
    await other.release(await other.acquire())


async def test_a_dead_callers_slot_frees_when_its_lease_runs_out(
    databases: Callable[[], Database],
) -> None:
    clock = ManualClock(START)
    limit = RateLimitSpec(calls=10, per_seconds=1.0, concurrency=1)
    crashed = DatabaseRateLimiter(databases(), "conn_c", limit, clock=clock, lease_seconds=30)
    await crashed.acquire()  # and never released
    survivor = DatabaseRateLimiter(databases(), "conn_c", limit, clock=clock, lease_seconds=30)
    with pytest.raises(RateLimitedError) as caught:
        await survivor.acquire()
    assert caught.value.code == "concurrency_limit"
    clock.advance(31)
    await survivor.release(await survivor.acquire())


async def test_the_quota_is_counted_exactly_under_concurrent_callers(
    databases: Callable[[], Database],
) -> None:
    clock = ManualClock(START)
    spec = QuotaSpec(calls=20, timezone="America/Chicago")
    quotas = [DatabaseDailyQuota(databases(), "conn_q", spec, clock=clock) for _ in range(2)]
    granted = refused = 0

    async def spend(n: int) -> None:
        nonlocal granted, refused
        try:
            await quotas[n % 2].consume()
            granted += 1
        except QuotaExhaustedError as exc:
            assert exc.resets_at == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
            refused += 1

    await asyncio.gather(*(spend(n) for n in range(50)))
    assert (granted, refused) == (20, 30)
    usage = await quotas[0].usage()
    assert (usage.used, usage.remaining) == (20, 0)


async def test_the_quota_resets_at_the_vendors_local_time_and_survives_a_restart(
    databases: Callable[[], Database],
) -> None:
    clock = ManualClock(datetime(2026, 3, 7, 5, 30, tzinfo=UTC))  # 23:30 on 6 March, Chicago
    spec = QuotaSpec(calls=2, reset=time(0, 0), timezone="America/Chicago")
    first = DatabaseDailyQuota(databases(), "conn_r", spec, clock=clock)
    await first.consume(2)
    await first.database.dispose()
    again = DatabaseDailyQuota(databases(), "conn_r", spec, clock=clock)
    with pytest.raises(QuotaExhaustedError) as caught:
        await again.consume()
    midnight_cst = datetime(2026, 3, 7, 6, 0, tzinfo=UTC)
    assert caught.value.resets_at == midnight_cst
    clock.set(midnight_cst)
    usage = await again.consume()
    assert usage.used == 1
    # daylight saving starts on 8 March: that vendor day is 23 hours long
    assert usage.resets_at == datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
    clock.set(datetime(2026, 3, 8, 6, 0, tzinfo=UTC))
    assert (await again.consume()).resets_at == datetime(2026, 3, 9, 5, 0, tzinfo=UTC)


async def test_the_vendor_saying_the_quota_is_spent_stops_every_caller(
    databases: Callable[[], Database],
) -> None:
    clock = ManualClock(START)
    spec = QuotaSpec(calls=50_000, timezone="America/Chicago")
    one = DatabaseDailyQuota(databases(), "conn_e", spec, clock=clock)
    other = DatabaseDailyQuota(databases(), "conn_e", spec, clock=clock)
    await one.consume()
    await one.exhaust()
    with pytest.raises(QuotaExhaustedError):
        await other.consume()
    assert (await other.usage()).remaining == 0
    clock.set(datetime(2026, 3, 3, 6, 0, tzinfo=UTC))
    assert (await other.consume()).used == 1
