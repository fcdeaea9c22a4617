"""The per-endpoint rate limit, shared by every worker through the database.

Each endpoint has one row holding its next free send slot (unix seconds). Taking a slot
is one atomic statement that moves the row on by ``1 / rate``, and only when the slot is
less than ``max_wait`` ahead: the caller then sleeps until its slot and sends. Sends are
thus spaced ``1 / rate`` apart whichever worker makes them, so no one-second window holds
more than ``rate`` (+1 at the window's closed edge). A caller that finds the endpoint
booked further ahead takes no slot and is rescheduled near the end of the queue of slots.
:class:`EndpointRateLimiter` is that, behind the one interface of outbound rate limits
(:class:`renkei.egress.limits.RateLimiter`), as connector calls' limiters are.

Slots are wall-clock times: the workers of one deployment need synchronised clocks (NTP).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, literal, select, update

from renkei.clock import Clock
from renkei.queue import RetryLater
from renkei.store.database import Database
from renkei.store.statements import insert_ignoring
from renkei.store.tables.webhooks import endpoint_rate

__all__ = ["EndpointRateLimiter", "Reservation", "reserve_slot"]

# A send later than this after its slot would crowd the next slot's: take a fresh one.
MAX_SLOT_LATENESS = 0.02


@dataclass(frozen=True)
class Reservation:
    slot: float | None
    """The unix time this caller may send at, or None when no slot was taken."""
    retry_at: float
    """With no slot: when to try again (the booked horizon less ``max_wait``)."""


async def reserve_slot(
    database: Database,
    endpoint_id: str,
    rate: float,
    *,
    clock: Callable[[], float],
    max_wait: float = 1.0,
) -> Reservation:
    interval = 1.0 / rate
    column = endpoint_rate.c.next_slot
    async with database.transaction() as connection:
        # Read the time only once the transaction holds the write lock (one writer), so
        # a wait for the lock cannot hand out a slot that is already in the past.
        now = clock()
        start = case((column > now, column), else_=literal(now))
        take = (
            update(endpoint_rate)
            .where(endpoint_rate.c.endpoint_id == endpoint_id, column <= now + max_wait)
            .values(next_slot=start + interval)
            .returning(endpoint_rate.c.next_slot)
        )
        taken = (await connection.execute(take)).scalar()
        if taken is not None:
            return Reservation(float(taken) - interval, now)
        created = await connection.execute(
            insert_ignoring(database, endpoint_rate).values(
                endpoint_id=endpoint_id, next_slot=now + interval
            )
        )
        if created.rowcount:
            return Reservation(now, now)
        booked = (
            await connection.execute(
                select(column).where(endpoint_rate.c.endpoint_id == endpoint_id)
            )
        ).scalar()
    horizon = float(booked if booked is not None else now)
    return Reservation(None, max(now, horizon - max_wait))


class EndpointRateLimiter:
    """An endpoint's sends per second as a :class:`~renkei.egress.limits.RateLimiter`.

    :meth:`acquire` takes a slot and sleeps until it; with the endpoint booked further
    ahead it raises :class:`~renkei.queue.RetryLater` (not counted as an attempt) for about
    when a slot frees, so the job is parked instead of holding a worker.
    """

    def __init__(self, database: Database, endpoint_id: str, rate: float, *, clock: Clock) -> None:
        self._database = database
        self._endpoint_id = endpoint_id
        self._rate = rate
        self._clock = clock

    async def acquire(self) -> str:
        clock = self._clock
        while True:
            reservation = await reserve_slot(
                self._database, self._endpoint_id, self._rate, clock=clock.time
            )
            if reservation.slot is None:
                spread = random.uniform(0, 1.0)
                at = datetime.fromtimestamp(reservation.retry_at + spread, UTC)
                raise RetryLater("endpoint rate limit", at=at, count_attempt=False)
            wait = reservation.slot - clock.time()
            if wait > 0:
                await clock.sleep(wait)
            # Woken too late (a busy event loop), the send would crowd the next slot's: give
            # the slot up and take a fresh one rather than go over the limit.
            if clock.time() - reservation.slot <= MAX_SLOT_LATENESS:
                return str(reservation.slot)

    async def release(self, lease: str) -> None:
        """Nothing to give back: a send slot is a moment, spent once passed."""
