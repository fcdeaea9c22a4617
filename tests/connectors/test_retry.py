from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from renkei.connectors import (
    Backoff,
    PermanentError,
    RateLimitedError,
    RetryableError,
    retry,
)
from renkei.egress.retry_after import parse_retry_after

from .conftest import RecordingClock


def test_backoff_grows_exponentially_and_is_capped() -> None:
    backoff = Backoff(attempts=10, base=1, multiplier=2, cap=10, jitter=0, max_wait=100)
    assert [backoff.delay(n) for n in range(1, 11)] == [1, 2, 4, 8, 10, 10, 10, 10, 10, None]


def test_backoff_jitter_stays_within_bounds() -> None:
    backoff = Backoff(attempts=3, base=10, jitter=0.2)
    rng = random.Random(7)
    delays = [backoff.delay(1, rng=rng) for _ in range(500)]
    assert all(d is not None and 8 <= d <= 12 for d in delays)
    assert len({round(d or 0, 3) for d in delays}) > 100


def test_backoff_honours_retry_after_and_leaves_long_waits_to_the_queue() -> None:
    backoff = Backoff(attempts=5, base=1, jitter=0, max_wait=60)
    assert backoff.delay(1, retry_after=7) == 7
    assert backoff.delay(3, retry_after=0.5) == 4  # never shorter than the backoff itself
    assert backoff.delay(1, retry_after=3600) is None


async def test_retry_waits_as_told_then_succeeds() -> None:
    clock = RecordingClock()
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RateLimitedError("slow down", retry_after=7)
        return "done"

    assert await retry(flaky, backoff=Backoff(jitter=0), clock=clock) == "done"
    assert clock.sleeps == [7, 7]


async def test_retry_gives_up_after_the_last_attempt() -> None:
    clock = RecordingClock()
    seen: list[int] = []

    async def broken() -> None:
        raise RetryableError("503")

    with pytest.raises(RetryableError):
        await retry(
            broken,
            backoff=Backoff(attempts=3, base=1, jitter=0),
            clock=clock,
            on_retry=lambda exc, failures, delay: seen.append(failures),
        )
    assert clock.sleeps == [1, 2]
    assert seen == [1, 2]


async def test_retry_never_retries_permanent_errors_or_vetoed_ones() -> None:
    clock = RecordingClock()

    async def bad_input() -> None:
        raise PermanentError("400")

    with pytest.raises(PermanentError):
        await retry(bad_input, backoff=Backoff(), clock=clock)

    async def maybe_sent() -> None:
        raise RetryableError("timeout", code="timeout")

    with pytest.raises(RetryableError):
        await retry(maybe_sent, backoff=Backoff(), clock=clock, retry_if=lambda e: False)
    assert clock.sleeps == []


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
