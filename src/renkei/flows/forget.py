"""Flow state of a forgotten person: runs started by their events (unfinished ones are
cancelled by going away: a pending step job finds no run and stops), the runs' steps
(inputs and outputs quote the person), and re-eligibility entries keyed on them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.tables.flows import flow_entries, flow_run_steps, flow_runs

__all__ = ["forget_flow_state", "key_mentions"]

_BULK = 500
_FINISHED = ("succeeded", "stopped", "failed", "skipped")


def key_mentions(column: ColumnElement[str], value: str) -> ColumnElement[bool]:
    """A user key that is ``value`` or has it as one ``:``-separated part (re-eligibility
    keys are templates such as ``{{ event.user_id }}:{{ ... }}``)."""
    return or_(
        column == value,
        column.startswith(f"{value}:", autoescape=True),
        column.endswith(f":{value}", autoescape=True),
        column.contains(f":{value}:", autoescape=True),
    )


async def forget_flow_state(
    connection: AsyncConnection, event_ids: Sequence[str], values: Sequence[str]
) -> dict[str, int]:
    """Returns ``{"cancelled", "runs", "entries"}``."""
    run_ids: set[str] = set()
    cancelled = 0
    conditions: list[ColumnElement[bool]] = [
        flow_runs.c.event_id.in_(list(event_ids[start : start + _BULK]))
        for start in range(0, len(event_ids), _BULK)
    ]
    conditions += [key_mentions(flow_runs.c.user_key, value) for value in values]
    for condition in conditions:
        for run in await connection.execute(
            select(flow_runs.c.id, flow_runs.c.status).where(condition)
        ):
            if run.id not in run_ids and run.status not in _FINISHED:
                cancelled += 1
            run_ids.add(run.id)
    ids = sorted(run_ids)
    for start in range(0, len(ids), _BULK):
        chunk = ids[start : start + _BULK]
        await connection.execute(delete(flow_run_steps).where(flow_run_steps.c.run_id.in_(chunk)))
        await connection.execute(delete(flow_runs).where(flow_runs.c.id.in_(chunk)))
    entries = 0
    for value in values:
        outcome = await connection.execute(
            delete(flow_entries).where(key_mentions(flow_entries.c.user_key, value))
        )
        entries += int(outcome.rowcount or 0)
    return {"cancelled": cancelled, "runs": len(ids), "entries": entries}
