"""The one rate-limiter interface for outbound calls: take a slot, send, give it back.

A :class:`RateLimiter` waits in process only briefly; when its next slot is further away it
raises its caller's retry-later error instead (the queue then parks the work rather than
holding a worker). Connector calls use it with a vendor's window and concurrency caps
(``connectors/limits.py`` in memory, ``connectors/db_limits.py`` across workers), webhook
deliveries with an endpoint's sends per second (``delivery/ratelimit.py``); ``hold`` wraps
one call in either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Protocol

__all__ = ["RateLimiter", "hold"]


class RateLimiter(Protocol):
    async def acquire(self) -> str:
        """Wait for a window slot and a concurrency slot; return a lease for :meth:`release`."""

    async def release(self, lease: str) -> None:
        """Give back the concurrency slot held by ``lease`` (window slots expire by themselves)."""


def hold(limiter: RateLimiter | None) -> AbstractAsyncContextManager[object]:
    """``async with hold(limiter):`` around one call; a None limiter limits nothing (and costs
    nothing: most webhook endpoints have no limit, and this is on every delivery)."""
    return _UNLIMITED if limiter is None else _held(limiter)


_UNLIMITED: AbstractAsyncContextManager[object] = nullcontext()


@asynccontextmanager
async def _held(limiter: RateLimiter) -> AsyncIterator[None]:
    lease = await limiter.acquire()
    try:
        yield
    finally:
        await limiter.release(lease)
