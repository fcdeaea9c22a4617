"""Expiry of finished flow runs and their steps (``RENKEI_RETENTION_FLOW_RUNS_DAYS``), one
bounded batch at a time; a run under way is never deleted, however old."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.tables.flows import flow_run_steps, flow_runs

__all__ = ["prune_runs"]


async def prune_runs(tx: AsyncConnection, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` runs that finished before ``before``; returns how many."""
    ids = list(
        (
            await tx.execute(
                select(flow_runs.c.id)
                .where(flow_runs.c.finished_at.is_not(None), flow_runs.c.finished_at < before)
                .limit(limit)
            )
        ).scalars()
    )
    if ids:
        await tx.execute(delete(flow_run_steps).where(flow_run_steps.c.run_id.in_(ids)))
        await tx.execute(delete(flow_runs).where(flow_runs.c.id.in_(ids)))
    return len(ids)
