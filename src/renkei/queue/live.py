"""What other packages ask the queue about its live jobs, so the ``jobs`` table is read
only here (with :mod:`renkei.queue.dead_letter`'s reconciler questions)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.queue.dead_letter import LIVE
from renkei.store.tables.core import jobs

__all__ = ["live_dedupe_keys", "live_job_ids", "scheduled_count"]


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
