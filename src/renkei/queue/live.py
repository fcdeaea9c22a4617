"""What other packages ask the queue about its live jobs, so the ``jobs`` table is read
only here (with :mod:`renkei.queue.dead_letter`'s reconciler questions)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.queue.dead_letter import LIVE
from renkei.store.tables.core import jobs

__all__ = [
    "TaskBacklog",
    "backlog_by_task",
    "died_since_by_task",
    "live_dedupe_keys",
    "live_job_ids",
    "oldest_due_by_task",
    "scheduled_count",
]


def live_job_ids() -> Select[tuple[Any]]:
    """The ids of the scheduled or running jobs: an uncorrelated subquery, for a statement
    that must see its rows and the jobs in one snapshot (``column.not_in(live_job_ids())``)."""
    return select(jobs.c.id).where(jobs.c.status.in_(LIVE))


async def live_dedupe_keys(connection: AsyncConnection, keys: Collection[str]) -> set[str]:
    """Those of ``keys`` that a scheduled or running job holds as its ``dedupe_key``."""
    if not keys:
        return set()
    found = await connection.execute(
        select(jobs.c.dedupe_key).where(jobs.c.dedupe_key.in_(list(keys)), jobs.c.status.in_(LIVE))
    )
    return {key for key in found.scalars() if key is not None}


async def scheduled_count(connection: AsyncConnection, task: str) -> int:
    """How many jobs of ``task`` wait to run (not yet claimed)."""
    found = await connection.execute(
        select(func.count())
        .select_from(jobs)
        .where(jobs.c.task == task, jobs.c.status == "scheduled")
    )
    return int(found.scalar_one())


async def oldest_due_by_task(
    connection: AsyncConnection, due_before: datetime, *, limit: int = 100
) -> dict[str, datetime]:
    """Tasks with a job waiting to run since before ``due_before``: the oldest due time."""
    found = await connection.execute(
        select(jobs.c.task, func.min(jobs.c.run_at))
        .where(jobs.c.status == "scheduled", jobs.c.run_at < due_before)
        .group_by(jobs.c.task)
        .order_by(jobs.c.task)
        .limit(limit)
    )
    return {task: oldest for task, oldest in found.tuples()}


async def died_since_by_task(
    connection: AsyncConnection, since: datetime, *, limit: int = 100
) -> dict[str, int]:
    """How many jobs of each task went to dead letter since ``since``."""
    found = await connection.execute(
        select(jobs.c.task, func.count())
        .where(jobs.c.status == "dead", jobs.c.updated_at >= since)
        .group_by(jobs.c.task)
        .order_by(jobs.c.task)
        .limit(limit)
    )
    return {task: int(count) for task, count in found.tuples()}


@dataclass(frozen=True, slots=True)
class TaskBacklog:
    pending: int = 0
    """Jobs scheduled (due or not) or running."""
    oldest_due: datetime | None = None
    """When the oldest scheduled job became due, if one is due now."""
    dead: int = 0
    """Jobs in the dead letter."""


async def backlog_by_task(connection: AsyncConnection, now: datetime) -> dict[str, TaskBacklog]:
    """Every task's pending and dead jobs, in one grouped read (for the metrics)."""
    found = await connection.execute(
        select(jobs.c.task, jobs.c.status, func.count(), func.min(jobs.c.run_at))
        .where(jobs.c.status.in_([*LIVE, "dead"]))
        .group_by(jobs.c.task, jobs.c.status)
    )
    pending: dict[str, int] = {}
    oldest: dict[str, datetime] = {}
    dead: dict[str, int] = {}
    for task, status, count, earliest in found.tuples():
        if status == "dead":
            dead[task] = int(count)
            continue
        pending[task] = pending.get(task, 0) + int(count)
        if status == "scheduled" and earliest is not None and earliest <= now:
            oldest[task] = earliest
    return {
        task: TaskBacklog(pending.get(task, 0), oldest.get(task), dead.get(task, 0))
        for task in sorted({*pending, *dead})
    }
