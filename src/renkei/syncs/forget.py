"""Sync state of a forgotten person: realtime pushes waiting or suppressed for them (keyed
on their email) and the changes recorded for their events."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.tables.syncs import sync_changes, sync_pending, sync_suppressions

__all__ = ["forget_sync_state"]

_BULK = 500


async def forget_sync_state(
    connection: AsyncConnection, event_ids: Sequence[str], subjects: Sequence[str]
) -> dict[str, int]:
    """Returns ``{"pending", "changes"}``."""
    pending = changes = 0
    for start in range(0, len(subjects), _BULK):
        chunk = list(subjects[start : start + _BULK])
        outcome = await connection.execute(
            delete(sync_pending).where(sync_pending.c.subject.in_(chunk))
        )
        pending += int(outcome.rowcount or 0)
        await connection.execute(
            delete(sync_suppressions).where(sync_suppressions.c.subject.in_(chunk))
        )
    for start in range(0, len(event_ids), _BULK):
        chunk = list(event_ids[start : start + _BULK])
        outcome = await connection.execute(
            delete(sync_changes).where(sync_changes.c.event_id.in_(chunk))
        )
        changes += int(outcome.rowcount or 0)
    return {"pending": pending, "changes": changes}
