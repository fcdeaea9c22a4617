"""Realtime pushes of events (:class:`PushEvents`): each event sent for the vendor's person,
created first (from the profile's email) when the profile has no vendor id yet; what the
write did is recorded as the event's change (changes.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from renkei.connectors.sync_objects import PushEvents
from renkei.events.envelope import Event
from renkei.events.profiles import (
    Profile,
    attach_identity,
    profile_with,
    vendor_identity,
    vendor_ids,
)
from renkei.events.suppressions import SUPPRESSION_KINDS, suppression_set
from renkei.queue import GiveUp
from renkei.store.tables.core import events as events_table
from renkei.syncs import model
from renkei.syncs.changes import outcome_of, record_changes
from renkei.syncs.model import Sync
from renkei.syncs.records import profile_email
from renkei.syncs.tally import Tally

if TYPE_CHECKING:
    from renkei.syncs.engine import SyncEngine

__all__ = ["push_event"]


async def push_event(engine: SyncEngine, sync: Sync, declared: PushEvents, event_id: str) -> None:
    async with engine.hub.database.read() as connection:
        row = (
            await connection.execute(select(events_table).where(events_table.c.id == event_id))
        ).first()
        profile: Profile | None = None
        if row is not None and row.email:
            profile = await profile_with(connection, "email", str(row.email).lower())
        if profile is None and row is not None and row.user_id:
            profile = await profile_with(connection, "user_id", row.user_id)
        keys = [] if row is None else [(k, v) for k in SUPPRESSION_KINDS if (v := row._mapping[k])]
        suppressed = bool(keys) and await suppression_set(engine.hub).is_suppressed(
            connection, keys
        )
    if row is None:
        raise GiveUp(f"sync {sync.id} or event {event_id} is gone")
    if suppressed:
        return  # suppressed since the push was queued: nothing is sent about them
    tally = Tally()
    tally.add("read")
    kind = declared.identity
    connection_id = (await engine.connection_row(None, sync.connection)).id
    known = [] if profile is None else vendor_ids(profile, kind, connection_id)
    if not known and profile is not None and profile_email(profile):
        # Unknown to the vendor yet: create the person first (from the email).
        result = await engine.call(
            sync, declared.create, [{"email": profile_email(profile)}], tally
        )
        created = getattr(result.records[0], "id", None) if result.records else None
        if created:
            known = [str(created)]
            async with engine.hub.database.transaction() as tx:
                _, value = vendor_identity(kind, connection_id, known[0])
                await attach_identity(tx, profile.id, kind, value, now=engine.now())
    outcomes: list[Any] = []
    if not known:
        tally.add("skipped")
    else:
        record = declared.record(_event_of(row), known[-1], sync.config)
        result = await engine.call(sync, declared.write, [record], tally)
        outcomes = list(result.records)
        for outcome in outcomes:
            if getattr(outcome, "ok", False):
                tally.add("created")
            else:
                tally.error(str(getattr(outcome, "message", "rejected")), event_id=event_id)
    async with engine.hub.database.transaction() as tx:
        await record_changes(
            tx,
            event_id=event_id,
            sync=sync,
            object=sync.object,
            outcomes=[outcome_of(outcome) for outcome in outcomes],
            now=engine.now(),
        )
        run_id = await engine.realtime_run(tx, sync)
        await model.add_to_run(tx, run_id, tally.counts, tally.errors)
        await engine.check_alerts(tx, sync, tally)


def _event_of(row: Any) -> Event:
    """A stored row of ``events`` as the event it was."""
    return Event(
        id=row.id,
        type=row.type,
        name=row.name,
        data=dict(row.data or {}),
        occurred_at=row.occurred_at,
        received_at=row.received_at,
        source_id=row.source_id or "",
        user_id=row.user_id,
        anonymous_id=row.anonymous_id,
        email=row.email,
    )
