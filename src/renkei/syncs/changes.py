"""What a realtime push did for the event that caused it (``sync_changes``): which sync,
which connection, the object, created, updated or failed, when. An event's timeline reads
them; they are kept ``RENKEI_CONNECTOR_RECORD_RETENTION_DAYS``, like the connectors' own
records (pruned by the ``syncs.reconcile`` periodic).

A profile push is one job per user while it waits (its dedupe key): the event that queued
it is the one recorded; a later change of the same user joins that push."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.ids import new_id
from renkei.security.redaction import redact_text
from renkei.store.tables.syncs import sync_changes, syncs
from renkei.syncs.model import Sync

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["changes_of_event", "forget_old_changes", "outcome_of", "record_changes"]

MAX_CHANGES_PER_EVENT = 100
_MAX_ERROR = 1000


def outcome_of(outcome: Any, *, ok: str = "created") -> tuple[str, str | None, str | None]:
    """A connector's record outcome as (``created``/``updated``/``failed``, vendor id,
    error); ``ok`` is what a success that names neither means."""
    status = getattr(outcome, "status", None)
    vendor_id = getattr(outcome, "id", None)
    if status in ("created", "updated"):
        return str(status), None if vendor_id is None else str(vendor_id), None
    if getattr(outcome, "ok", False):
        return ok, None if vendor_id is None else str(vendor_id), None
    return "failed", None, str(getattr(outcome, "message", None) or "rejected")


async def record_changes(
    tx: AsyncConnection,
    *,
    event_id: str,
    sync: Sync,
    object: str,
    outcomes: Sequence[tuple[str, str | None, str | None]],
    now: datetime,
) -> None:
    if not outcomes:
        return
    await tx.execute(
        insert(sync_changes),
        [
            {
                "id": new_id("chg"),
                "event_id": event_id,
                "sync_id": sync.id,
                "connection": sync.connection,
                "object": object,
                "outcome": outcome,
                "vendor_id": vendor_id[:200] if vendor_id else None,
                "error": redact_text(error)[:_MAX_ERROR] if error else None,
                "at": now,
            }
            for outcome, vendor_id, error in outcomes
        ],
    )


async def changes_of_event(connection: AsyncConnection, event_id: str) -> list[dict[str, Any]]:
    """The changes ``event_id`` caused, oldest first (with the sync's name when it still
    exists)."""
    rows = await connection.execute(
        select(sync_changes, syncs.c.name.label("sync_name"))
        .outerjoin(syncs, syncs.c.id == sync_changes.c.sync_id)
        .where(sync_changes.c.event_id == event_id)
        .order_by(sync_changes.c.at, sync_changes.c.id)
        .limit(MAX_CHANGES_PER_EVENT)
    )
    return [dict(row._mapping) for row in rows]


async def forget_old_changes(hub: Core) -> int:
    """Drop the changes older than the connectors' record retention."""
    before = hub.clock.now() - timedelta(days=hub.settings.connector_record_retention_days)
    async with hub.database.transaction() as tx:
        pruned = await tx.execute(delete(sync_changes).where(sync_changes.c.at < before))
    return int(pruned.rowcount)
