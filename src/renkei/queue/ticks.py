"""When a periodic schedule ticks: the one place that reads cron expressions.

A schedule is ``every_seconds`` or a ``cron`` expression (UTC). Features validate their
users' cron expressions with :func:`is_valid_cron` and hand the schedule to the queue
(:class:`~renkei.queue.Periodic`), which ticks it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from croniter import croniter

__all__ = ["is_valid_cron", "next_tick", "previous_tick"]


def is_valid_cron(expression: str) -> bool:
    return bool(croniter.is_valid(expression))


def next_tick(
    every_seconds: float | None, cron: str | None, previous: datetime, now: datetime
) -> datetime:
    """The first tick after ``now`` on the schedule that last ticked at ``previous``.

    Missed ticks (the process was down) are skipped rather than replayed in a burst.
    """
    if every_seconds is not None:
        step = timedelta(seconds=every_seconds)
        if previous > now:
            return previous
        missed = int((now - previous) / step) + 1
        return previous + missed * step
    if cron is None:
        raise ValueError("a schedule needs every_seconds or cron")
    following: datetime = croniter(cron, now).get_next(datetime)
    return following


def previous_tick(every_seconds: float | None, cron: str | None, tick: datetime) -> datetime:
    """The tick before ``tick`` on the schedule: where the period a tick closes began, when
    the schedule has not ticked before."""
    if every_seconds is not None:
        return tick - timedelta(seconds=every_seconds)
    if cron is None:
        raise ValueError("a schedule needs every_seconds or cron")
    previous: datetime = croniter(cron, tick).get_prev(datetime)
    return previous
