"""When to try again: the one backoff every retrying caller uses (capped, jittered).

A connector call retries in process (waits of seconds, honouring a vendor's ``Retry-After``,
giving up to the durable queue past ``max_wait``); the job queue reschedules failed jobs
(minutes to hours, a configured schedule); a webhook delivery is a job that also honours its
target's ``Retry-After``. All three ask :meth:`Backoff.delay` how long to wait.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """``attempts`` tries in all; the n-th retry waits ``base * multiplier**(n-1)`` seconds
    capped at ``cap`` (or ``schedule[n-1]`` when a schedule is given), spread by ±``jitter``
    of itself, and never less than the target's ``retry_after``. A wait longer than
    ``max_wait`` is refused (None): an in-process caller then leaves the work to the queue.

    The spread keeps a burst of failures from coming back as a burst of retries.
    """

    attempts: int = 4
    base: float = 0.5
    multiplier: float = 2.0
    cap: float = 30.0
    jitter: float = 0.2
    max_wait: float = 60.0
    schedule: tuple[float, ...] | None = None

    @classmethod
    def from_schedule(cls, delays: Sequence[float], jitter: float = 0.2) -> Backoff:
        """A durable schedule: ``delays[n]`` after the ``n+1``-th failure, then no more."""
        schedule = tuple(float(d) for d in delays)
        return cls(len(schedule) + 1, jitter=jitter, max_wait=math.inf, schedule=schedule)

    @property
    def max_attempts(self) -> int:
        return self.attempts if self.schedule is None else len(self.schedule) + 1

    def delay(
        self, failures: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to wait after ``failures`` failed attempts, or None to stop retrying."""
        if failures < 1 or failures >= self.max_attempts:
            return None
        if self.schedule is not None:
            wait = self.schedule[failures - 1]
        else:
            wait = min(self.cap, self._grown(failures - 1))
        wait = max(0.0, wait * (1 + (rng or random).uniform(-self.jitter, self.jitter)))
        if retry_after is not None:
            wait = max(wait, retry_after)
        return None if wait > self.max_wait else wait

    def _grown(self, retries: int) -> float:
        """``base * multiplier**retries``; a caller bounded by a deadline rather than by
        ``attempts`` can fail thousands of times, past what a float holds."""
        try:
            return self.base * self.multiplier**retries
        except OverflowError:
            return math.inf
