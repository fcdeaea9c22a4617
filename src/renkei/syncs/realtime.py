"""Realtime pushes: a fan-out handler, called in the transaction that stores new events.

For a push sync with ``trigger.events`` (e.g. ``[identify]``):

- ``object: leads`` / ``contacts``: one upsert per user, unless the user is suppressed
  (``trigger.suppress_seconds`` after any request, success or failure: KARTE's 24 h), or
  the quota planner holds realtime work back: then the change waits in ``sync_pending``
  for the next batch (one row per user, however many changes);
- ``object: activities``: each matching event becomes a Marketo custom activity.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.envelope import Event
from renkei.store.tables.core import jobs
from renkei.store.tables.syncs import sync_pending, sync_suppressions, syncs
from renkei.syncs.engine import PUSH_EVENT_TASK, PUSH_PROFILE_TASK, SyncEngine
from renkei.syncs.model import Sync
from renkei.syncs.planner import QuotaStatus

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["fanout_handler", "hold", "subject_of"]


def subject_of(event: Event) -> str | None:
    """The email a realtime profile push is keyed on."""
    email = event.email
    if not email:
        traits = event.data.get("traits")
        if isinstance(traits, dict) and isinstance(traits.get("email"), str):
            email = traits["email"]
    email = (email or "").strip().lower()
    return email if "@" in email else None


def _upsert(hub: Hub) -> Any:
    return sqlite_insert if hub.database.is_sqlite else pg_insert


async def hold(hub: Hub, tx: AsyncConnection, sync_id: str, subject: str) -> None:
    await tx.execute(
        _upsert(hub)(sync_pending)
        .values(sync_id=sync_id, subject=subject, queued_at=hub.clock.now())
        .on_conflict_do_nothing()
    )


def _matches(sync: Sync, event: Event) -> bool:
    if event.type not in sync.realtime_events:
        return False
    names = sync.trigger.get("names")
    return not names or event.name in names


class LiveSyncs:
    """The enabled event-triggered syncs, read at most every ``refresh_seconds``: the
    fan-out runs in every ingest commit, which should not pay a query each time. A change
    made in this process takes effect at once (:meth:`invalidate`); one made elsewhere
    within ``refresh_seconds``."""

    def __init__(self, refresh_seconds: float) -> None:
        self.refresh_seconds = refresh_seconds
        self._syncs: list[Sync] | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        self._syncs = None

    async def get(self, tx: AsyncConnection) -> list[Sync]:
        now = time.monotonic()
        if self._syncs is None or now - self._loaded_at >= self.refresh_seconds:
            rows = (await tx.execute(select(syncs).where(syncs.c.enabled.is_(True)))).all()
            self._syncs = [Sync.from_row(row) for row in rows if (row.trigger or {}).get("events")]
            self._loaded_at = now
        return self._syncs


def fanout_handler(hub: Hub, engine: SyncEngine, syncs_in_force: LiveSyncs) -> Any:
    async def handle(tx: AsyncConnection, events: Sequence[Any]) -> None:
        live = await syncs_in_force.get(tx)
        if not live:
            return
        statuses: dict[str, QuotaStatus] = {}
        queued: dict[str, int] = {}
        for sync in live:
            for event in events:
                if not isinstance(event, Event) or not _matches(sync, event):
                    continue
                if sync.object == "activities":
                    await hub.queue.enqueue(
                        tx, PUSH_EVENT_TASK, {"sync_id": sync.id, "event_id": event.id}
                    )
                    continue
                subject = subject_of(event)
                if subject is None:
                    continue
                ref = sync.connection
                if ref not in statuses:
                    statuses[ref] = await engine.status(tx, ref, sync)
                    queued[ref] = await _queued(tx)
                mode = statuses[ref].mode_with(queued[ref] + 1)
                if await _profile_change(hub, tx, sync, subject, mode):
                    queued[ref] += 1

    return handle


async def _queued(tx: AsyncConnection) -> int:
    """Realtime pushes admitted but not sent yet: they count as used for the planner."""
    found = await tx.execute(
        select(func.count())
        .select_from(jobs)
        .where(jobs.c.task == PUSH_PROFILE_TASK, jobs.c.status == "scheduled")
    )
    return int(found.scalar_one())


async def _profile_change(
    hub: Hub, tx: AsyncConnection, sync: Sync, subject: str, mode: str
) -> bool:
    """True when a realtime call was admitted."""
    now = hub.clock.now()
    window = float(sync.trigger.get("suppress_seconds") or 0)
    if window:
        until = (
            await tx.execute(
                select(sync_suppressions.c.until).where(
                    sync_suppressions.c.sync_id == sync.id,
                    sync_suppressions.c.subject == subject,
                )
            )
        ).scalar_one_or_none()
        if until is not None and until > now:
            return False  # suppressed: the periodic batch carries this change
    if mode != "realtime":
        await hold(hub, tx, sync.id, subject)
        return False
    if window:
        statement = _upsert(hub)(sync_suppressions).values(
            sync_id=sync.id, subject=subject, until=now + timedelta(seconds=window)
        )
        await tx.execute(
            statement.on_conflict_do_update(
                index_elements=[sync_suppressions.c.sync_id, sync_suppressions.c.subject],
                set_={"until": statement.excluded.until},
            )
        )
    await hub.queue.enqueue(
        tx,
        PUSH_PROFILE_TASK,
        {"sync_id": sync.id, "subject": subject},
        dedupe_key=f"{PUSH_PROFILE_TASK}:{sync.id}:{subject}",
    )
    return True
