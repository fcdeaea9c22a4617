"""Expiry of finished sync runs (``RENKEI_RETENTION_SYNC_RUNS_DAYS``), one bounded batch at
a time; a run under way is never deleted, and a sync keeps its cursor whatever happens to
its old runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.tables.syncs import sync_runs

__all__ = ["prune_runs"]


async def prune_runs(tx: AsyncConnection, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` runs that finished before ``before``; returns how many."""
    ids = list(
        (
            await tx.execute(
                select(sync_runs.c.id)
                .where(sync_runs.c.finished_at.is_not(None), sync_runs.c.finished_at < before)
                .limit(limit)
            )
        ).scalars()
    )
    if ids:
        await tx.execute(delete(sync_runs).where(sync_runs.c.id.in_(ids)))
    return len(ids)
