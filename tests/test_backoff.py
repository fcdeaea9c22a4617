"""The one backoff: exponential or scheduled waits, capped, jittered, floored by Retry-After."""

from __future__ import annotations

import math
import random

from renkei.backoff import Backoff


def test_a_schedule_gives_its_delays_then_stops() -> None:
    backoff = Backoff.from_schedule((10, 20, 40), jitter=0)
    assert backoff.max_attempts == 4
    assert [backoff.delay(n) for n in range(0, 5)] == [None, 10, 20, 40, None]


def test_a_durable_schedule_has_no_in_process_limit_and_retry_after_is_a_floor() -> None:
    backoff = Backoff.from_schedule((5, 300), jitter=0)
    assert backoff.max_wait == math.inf
    assert backoff.delay(1, retry_after=3600) == 3600
    assert backoff.delay(2, retry_after=1) == 300


def test_jitter_spreads_a_scheduled_delay_both_ways() -> None:
    backoff = Backoff.from_schedule((100,), jitter=0.2)
    rng = random.Random(3)
    delays = [backoff.delay(1, rng=rng) or 0 for _ in range(500)]
    assert all(80 <= d <= 120 for d in delays)
    assert min(delays) < 90 and max(delays) > 110


def test_a_wait_bounded_by_a_deadline_can_fail_thousands_of_times_without_overflow() -> None:
    # The SQLite write-lock wait counts failures until its deadline, not up to a number of
    # tries: 2.0 ** 1100 overflows a float.
    backoff = Backoff(attempts=10**9, base=0.0005, cap=0.02, jitter=0, max_wait=math.inf)
    assert backoff.delay(5000) == 0.02
