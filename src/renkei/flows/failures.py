"""``flow.run.failed``: recorded in the transaction that fails the run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.log import record_events
from renkei.events.system import FLOW_RUN_FAILED, short_reason, system_event
from renkei.store.tables.core import events
from renkei.store.tables.flows import flow_runs

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["publish_run_failed"]

# A flow that reacts to failures and fails itself would feed itself forever.
_NO_FAILURE_EVENT_FOR = (FLOW_RUN_FAILED, "alert.opened", "alert.resolved")


async def publish_run_failed(hub: Core, tx: AsyncConnection, run_id: str, reason: str) -> None:
    run = (
        await tx.execute(
            select(flow_runs.c.flow_id, flow_runs.c.version, flow_runs.c.event_id).where(
                flow_runs.c.id == run_id
            )
        )
    ).first()
    if run is None:
        return
    trigger = (
        await tx.execute(select(events.c.type).where(events.c.id == run.event_id))
    ).scalar_one_or_none()
    if trigger in _NO_FAILURE_EVENT_FOR:
        return
    data = {
        "flow_id": run.flow_id,
        "run_id": run_id,
        "version": int(run.version),
        "event_id": run.event_id,
        "reason": short_reason(reason),
    }
    event = system_event(FLOW_RUN_FAILED, data, at=hub.clock.now(), event_id=f"evt_{run_id}_failed")
    await record_events(hub, tx, [event])
