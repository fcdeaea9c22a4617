"""``sync.run.failed``: recorded in the transaction that fails the run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.log import record_events
from renkei.events.system import SYNC_RUN_FAILED, short_reason, system_event
from renkei.store.tables.syncs import sync_runs

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["publish_run_failed"]


async def publish_run_failed(hub: Core, tx: AsyncConnection, run_id: str, reason: str) -> None:
    sync_id = (
        await tx.execute(select(sync_runs.c.sync_id).where(sync_runs.c.id == run_id))
    ).scalar_one_or_none()
    if sync_id is None:
        return
    data = {"sync_id": sync_id, "run_id": run_id, "reason": short_reason(reason)}
    event = system_event(SYNC_RUN_FAILED, data, at=hub.clock.now(), event_id=f"evt_{run_id}_failed")
    await record_events(hub, tx, [event])
