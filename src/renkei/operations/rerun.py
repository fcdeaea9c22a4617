"""``flow_runs.rerun``: run again, from the start, the flow runs a filter picks.

An item is a run in one of the filter's statuses (``failed`` unless told), picked by id
after the cursor. The engine reruns it only if it is still in such a status when the
update runs (``FlowEngine.rerun``): a run that succeeded, on a rerun or otherwise, is never
run again, and two operations never both rerun one run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.operations.batch import Batch, window
from renkei.store.tables.flows import flow_runs

if TYPE_CHECKING:
    from renkei.flows.engine import FlowEngine

__all__ = ["DEFAULT_STATUSES", "KIND", "RERUNNABLE", "batch", "count"]

KIND = "flow_runs.rerun"
RERUNNABLE = ("failed", "stopped", "skipped")
"""Finished without succeeding: what a rerun may start again."""
DEFAULT_STATUSES = ("failed",)


def statuses(filter: dict[str, Any]) -> tuple[str, ...]:
    return tuple(filter.get("status") or DEFAULT_STATUSES)


def _where(filter: dict[str, Any]) -> list[ColumnElement[bool]]:
    clauses = [flow_runs.c.status.in_(statuses(filter))]
    if filter.get("flow_id"):
        clauses.append(flow_runs.c.flow_id == filter["flow_id"])
    return clauses + window(flow_runs.c.started_at, filter)


async def count(connection: AsyncConnection, filter: dict[str, Any]) -> int:
    query = select(func.count()).select_from(flow_runs).where(*_where(filter))
    return int((await connection.execute(query)).scalar() or 0)


async def batch(
    flows: FlowEngine, tx: AsyncConnection, filter: dict[str, Any], cursor: Any, size: int
) -> Batch:
    query = select(flow_runs.c.id).where(*_where(filter))
    if cursor is not None:
        query = query.where(flow_runs.c.id > str(cursor))
    ids = list((await tx.execute(query.order_by(flow_runs.c.id).limit(size))).scalars())
    if not ids:
        return Batch(None)
    current = filter.get("version") == "current"
    rerun = 0
    for run_id in ids:
        if await flows.rerun(tx, run_id, current_version=current, only=statuses(filter)):
            rerun += 1
    return Batch(ids[-1], done=len(ids), skipped=len(ids) - rerun)
