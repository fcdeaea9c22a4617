"""Capped, jittered exponential backoff that honours a vendor's retry time.

Only short waits happen in process. A wait longer than ``Backoff.max_wait`` (a Retry-After of
an hour, say) makes :func:`retry` give up and re-raise, so that the durable queue can park the
work instead of holding a worker.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from renkei.clock import Clock
from renkei.connectors.errors import RetryableError

__all__ = ["Backoff", "retry"]

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """``attempts`` tries in all; the n-th retry waits ``base * multiplier**(n-1)`` seconds,
    capped at ``cap``, spread by ±``jitter``, and never less than the error's ``retry_after``."""

    attempts: int = 4
    base: float = 0.5
    multiplier: float = 2.0
    cap: float = 30.0
    jitter: float = 0.2
    max_wait: float = 60.0

    def delay(
        self, failures: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to wait after ``failures`` failed attempts, or None to stop retrying."""
        if failures >= self.attempts:
            return None
        wait = min(self.cap, self.base * self.multiplier ** (failures - 1))
        wait *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return None if wait > self.max_wait else wait


async def retry(
    attempt: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    clock: Clock,
    rng: random.Random | None = None,
    retry_if: Callable[[RetryableError], bool] | None = None,
    on_retry: Callable[[RetryableError, int, float], None] | None = None,
) -> T:
    """Run ``attempt`` until it returns, retrying :class:`RetryableError` as ``backoff`` allows.

    ``retry_if`` can veto a retry (a non-idempotent write that may have reached the vendor);
    ``on_retry(error, failures, delay)`` is called before each wait.
    """
    failures = 0
    while True:
        try:
            return await attempt()
        except RetryableError as exc:
            failures += 1
            allowed = retry_if is None or retry_if(exc)
            delay = backoff.delay(failures, exc.retry_after, rng) if allowed else None
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(exc, failures, delay)
            await clock.sleep(delay)
