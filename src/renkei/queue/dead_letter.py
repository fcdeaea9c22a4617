"""What a feature's reconciler asks the queue about the jobs that move its runs.

A task's ``on_dead`` hook tells a feature when one of its jobs fails for good, but not
always: a job whose worker died on its last attempt goes to dead letter through the lease
reaper or the worker registry, with no hook. A reconciler then looks for the unfinished
runs with no live job (:func:`live_keys`) and fails them with the error of their dead job
(:func:`dead_error`). Payload values are matched as JSON, on both backends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.tables.core import jobs

__all__ = ["LIVE", "dead_error", "dead_jobs", "live_keys"]

LIVE = ("scheduled", "running")
"""A job in these states will still run (or is running)."""


def live_keys(task: str, key: str) -> Select[tuple[Any]]:
    """The payload values at ``key`` of the task's scheduled or running jobs (as strings): an
    uncorrelated subquery, ``column.not_in(live_keys(task, key).scalar_subquery())``. Read in
    the statement that reads the runs, a job finishing meanwhile is never taken for a missing
    one."""
    value = jobs.c.payload[key].as_string()
    return select(value).where(jobs.c.task == task, jobs.c.status.in_(LIVE), value.is_not(None))


async def dead_error(
    connection: AsyncConnection, task: str, match: Mapping[str, str | int]
) -> str | None:
    """The error of the latest dead job of ``task`` whose payload holds ``match`` (strings
    and integers), or None when none died."""
    query = select(jobs.c.last_error).where(jobs.c.task == task, jobs.c.status == "dead")
    for key, value in match.items():
        field = jobs.c.payload[key]
        if isinstance(value, int):
            query = query.where(field.as_integer() == value)
        else:
            query = query.where(field.as_string() == value)
    row = (await connection.execute(query.order_by(jobs.c.id.desc()).limit(1))).first()
    if row is None:
        return None
    return str(row.last_error or "failed")


async def dead_jobs(
    connection: AsyncConnection, *, limit: int, before_id: int | None = None
) -> list[Any]:
    """Dead jobs, the latest first (by id; ``before_id`` pages on): ``id``, ``task``,
    ``queue``, ``attempts``, ``max_attempts``, ``last_error``, ``created_at``,
    ``updated_at`` (when it died)."""
    query = select(
        jobs.c.id,
        jobs.c.task,
        jobs.c.queue,
        jobs.c.attempts,
        jobs.c.max_attempts,
        jobs.c.last_error,
        jobs.c.created_at,
        jobs.c.updated_at,
    ).where(jobs.c.status == "dead")
    if before_id is not None:
        query = query.where(jobs.c.id < before_id)
    return list(await connection.execute(query.order_by(jobs.c.id.desc()).limit(limit)))
