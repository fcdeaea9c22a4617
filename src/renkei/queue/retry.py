"""When to try a failed job again: a capped schedule of delays with jitter."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """``delays[n]`` is the wait after the ``n+1``-th failed attempt; then the job is dead.

    ``jitter`` spreads each wait uniformly over ±jitter of it, so a burst of failures
    does not come back as a burst of retries.
    """

    delays: tuple[float, ...]
    jitter: float = 0.2

    @classmethod
    def from_schedule(cls, delays: Sequence[float], jitter: float = 0.2) -> RetryPolicy:
        return cls(tuple(float(d) for d in delays), jitter)

    @classmethod
    def exponential(
        cls,
        *,
        attempts: int,
        first: float = 1.0,
        factor: float = 2.0,
        cap: float = 3600.0,
        jitter: float = 0.2,
    ) -> RetryPolicy:
        delays = tuple(min(cap, first * factor**n) for n in range(attempts - 1))
        return cls(delays, jitter)

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def delay_after(self, attempts: int, rng: random.Random | None = None) -> float | None:
        """The wait after ``attempts`` failed attempts, or None when none are left."""
        if attempts < 1 or attempts > len(self.delays):
            return None
        base = self.delays[attempts - 1]
        spread = base * self.jitter
        return max(0.0, base + (rng or random).uniform(-spread, spread))
