"""Retrying a connector call in process, waiting as the one :class:`~renkei.backoff.Backoff`
says (capped, jittered, never less than the vendor's ``Retry-After``).

Only short waits happen in process. A wait longer than ``Backoff.max_wait`` (a Retry-After of
an hour, say) makes :func:`retry` give up and re-raise, so that the durable queue can park the
work instead of holding a worker.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from renkei.backoff import Backoff
from renkei.clock import Clock
from renkei.connectors.errors import RetryableError

__all__ = ["Backoff", "retry"]

T = TypeVar("T")


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
