from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from renkei.clock import ManualClock
from renkei.connectors import (
    InMemoryDailyQuota,
    InMemoryRateLimiter,
    QuotaExhaustedError,
    QuotaSpec,
    hold,
    next_reset,
)

from .conftest import settle

CHICAGO = ZoneInfo("America/Chicago")


async def run_until_done(clock: ManualClock, tasks: list[asyncio.Task[None]], step: float) -> None:
    for _ in range(100_000):
        await settle()
        if all(t.done() for t in tasks):
            return
        clock.advance(step)
    raise AssertionError("tasks did not finish")


async def test_window_and_concurrency_never_exceeded() -> None:
    # Marketo: 100 calls per 20 s, 10 at a time; 350 callers, each holding its slot 0.5 s.
    clock = ManualClock()
    limiter = InMemoryRateLimiter(100, 20, concurrency=10, clock=clock)
    started: list[datetime] = []
    in_flight = peak = 0

    async def call() -> None:
        nonlocal in_flight, peak
        async with hold(limiter):
            started.append(clock.now())
            in_flight += 1
            peak = max(peak, in_flight)
            await clock.sleep(0.5)
            in_flight -= 1

    tasks = [asyncio.create_task(call()) for _ in range(350)]
    await run_until_done(clock, tasks, step=0.25)

    assert len(started) == 350
    assert peak == 10
    window = timedelta(seconds=20)
    busiest = max(sum(1 for s in started if t <= s < t + window) for t in started)
    assert busiest == 100


async def test_window_limit_without_concurrency_cap() -> None:
    clock = ManualClock()
    limiter = InMemoryRateLimiter(3, 1, clock=clock)
    t0 = clock.time()
    started: list[float] = []

    async def call() -> None:
        await limiter.release(await limiter.acquire())
        started.append(clock.time() - t0)

    tasks = [asyncio.create_task(call()) for _ in range(7)]
    await run_until_done(clock, tasks, step=0.5)
    assert sorted(started) == [0, 0, 0, 1, 1, 1, 2]


async def test_cancelled_waiter_gives_back_its_concurrency_slot() -> None:
    clock = ManualClock()
    limiter = InMemoryRateLimiter(1, 60, concurrency=1, clock=clock)
    await limiter.release(await limiter.acquire())  # uses the only window slot
    waiter = asyncio.create_task(limiter.acquire())
    await settle()
    waiter.cancel()
    await settle()
    clock.advance(60)
    lease = await asyncio.wait_for(limiter.acquire(), timeout=5)
    await limiter.release(lease)


def chicago(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHICAGO).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "expected", "hours"),
    [
        # Spring forward (8 March 2026): the vendor day that starts then lasts 23 hours.
        (chicago(2026, 3, 7, 23, 30), chicago(2026, 3, 8), 23),
        # Fall back (1 November 2026): 25 hours.
        (chicago(2026, 10, 31, 23, 30), chicago(2026, 11, 1), 25),
    ],
)
def test_next_reset_is_local_midnight_across_dst(
    now: datetime, expected: datetime, hours: int
) -> None:
    first = next_reset(now, time(0), CHICAGO)
    assert first == expected
    second = next_reset(first, time(0), CHICAGO)
    assert second - first == timedelta(hours=hours)
    assert second.astimezone(CHICAGO).time() == time(0)


def test_next_reset_at_exactly_the_reset_moves_to_the_next_day() -> None:
    now = chicago(2026, 6, 1)
    assert next_reset(now, time(0), CHICAGO) == chicago(2026, 6, 2)
    assert next_reset(now - timedelta(microseconds=1), time(0), CHICAGO) == now


async def test_quota_resets_at_marketo_midnight_across_dst() -> None:
    clock = ManualClock(chicago(2026, 3, 7, 23, 30))
    quota = InMemoryDailyQuota(3, timezone="America/Chicago", clock=clock)
    for _ in range(3):
        await quota.consume()
    with pytest.raises(QuotaExhaustedError) as caught:
        await quota.consume()
    assert caught.value.resets_at == chicago(2026, 3, 8)

    clock.set(chicago(2026, 3, 8))
    usage = await quota.consume(3)
    assert (usage.used, usage.remaining) == (3, 0)
    # The next reset is 23 h later: midnight CDT is 05:00 UTC, not 06:00.
    assert usage.resets_at == datetime(2026, 3, 9, 5, tzinfo=UTC)

    clock.set(datetime(2026, 3, 9, 4, 59, 59, tzinfo=UTC))
    with pytest.raises(QuotaExhaustedError):
        await quota.consume()
    clock.set(datetime(2026, 3, 9, 5, tzinfo=UTC))
    assert (await quota.consume()).used == 1


async def test_quota_with_a_reset_time_other_than_midnight() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    clock = ManualClock(datetime(2026, 5, 1, 8, 59, tzinfo=tokyo))
    spec = QuotaSpec(calls=1, reset=time(9, 0), timezone="Asia/Tokyo")
    quota = spec.in_memory(clock)
    await quota.consume()
    with pytest.raises(QuotaExhaustedError) as caught:
        await quota.consume()
    assert caught.value.resets_at == datetime(2026, 5, 1, 9, tzinfo=tokyo)
    assert spec.next_reset(clock.now()) == caught.value.resets_at
    clock.advance(minutes=1)
    assert (await quota.usage()).used == 0


async def test_a_batch_that_does_not_fit_is_refused_whole() -> None:
    quota = InMemoryDailyQuota(10, clock=ManualClock())
    await quota.consume(8)
    with pytest.raises(QuotaExhaustedError):
        await quota.consume(3)
    assert (await quota.usage()).used == 8
