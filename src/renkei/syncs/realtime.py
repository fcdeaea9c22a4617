"""Realtime pushes: a fan-out handler, called in the transaction that stores new events.

For a push sync with ``trigger.events`` (e.g. ``[identify]``):

- an object of profiles (``PushProfiles`` in the connector's ``sync_objects``): one upsert
  per user, unless the user is suppressed
  (``trigger.suppress_seconds`` after any request, success or failure: KARTE's 24 h), or
  the quota planner holds realtime work back: then the change waits in ``sync_pending``
  for the next batch (one row per user, however many changes);
- a person with no email whose identify carries the cookie of the object's ``cookie_link``
  (a vendor's tracking cookie) is linked by that cookie instead (subject ``<kind>:<cookie>``,
  suppressed the same way); realtime only: what the planner holds back is dropped;
- an object of events (``PushEvents``): each matching event is pushed on its own (e.g. as a
  custom activity of the person).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors.errors import PermanentError
from renkei.connectors.sync_objects import CookieLink, PushEvents, PushProfiles
from renkei.events.envelope import Event
from renkei.queue import NewJob, scheduled_count
from renkei.store.statements import insert_ignoring, upsert
from renkei.store.tables.syncs import sync_pending, sync_suppressions, syncs
from renkei.syncs.engine import PUSH_EVENT_TASK, PUSH_PROFILE_TASK, SyncEngine
from renkei.syncs.model import Sync
from renkei.syncs.planner import QuotaStatus

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["cookie_of", "cookie_subject", "fanout_handler", "hold", "subject_of"]

_CHUNK = 500


def subject_of(event: Event) -> str | None:
    """The email a realtime profile push is keyed on."""
    email = event.email
    if not email:
        traits = event.data.get("traits")
        if isinstance(traits, dict) and isinstance(traits.get("email"), str):
            email = traits["email"]
    email = (email or "").strip().lower()
    return email if "@" in email else None


def cookie_of(event: Event, link: CookieLink) -> str | None:
    """The cookie an identify carries as the trait ``link.identity`` (top level or in
    ``context.traits``), if it is one."""
    if event.type != "identify":
        return None
    context = event.data.get("context")
    for traits in (
        event.data.get("traits"),
        context.get("traits") if isinstance(context, dict) else None,
    ):
        if isinstance(traits, dict) and link.valid(value := traits.get(link.identity)):
            return str(value)
    return None


def cookie_subject(link: CookieLink, cookie: str) -> str:
    """The subject of a cookie link (an email subject always has an ``@``, this never)."""
    return f"{link.identity}:{cookie}"


async def hold(hub: Core, tx: AsyncConnection, sync_id: str, subject: str) -> None:
    await tx.execute(
        insert_ignoring(tx, sync_pending).values(
            sync_id=sync_id, subject=subject, queued_at=hub.clock.now()
        )
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


def fanout_handler(hub: Core, engine: SyncEngine, syncs_in_force: LiveSyncs) -> Any:
    async def handle(tx: AsyncConnection, events: Sequence[Any]) -> None:
        live = await syncs_in_force.get(tx)
        if not live:
            return
        planners: dict[str, _Planner] = {}
        for sync in live:
            matching = [e for e in events if isinstance(e, Event) and _matches(sync, e)]
            if not matching:
                continue
            try:
                declared = await engine.sync_object(sync, tx)
            except PermanentError:
                continue  # its connection is gone: nothing to push to (the ingest goes on)
            if isinstance(declared, PushEvents):
                await hub.queue.enqueue_many(
                    tx,
                    [
                        NewJob(PUSH_EVENT_TASK, {"sync_id": sync.id, "event_id": event.id})
                        for event in matching
                    ],
                )
                continue
            causes: dict[str, str] = {}  # subject -> the first event that changed it
            link = declared.cookie_link if isinstance(declared, PushProfiles) else None
            for event in matching:
                if subject := subject_of(event):
                    causes.setdefault(subject, event.id)
                elif link is not None and (cookie := cookie_of(event, link)):
                    causes.setdefault(cookie_subject(link, cookie), event.id)
            if not causes:
                continue
            planner = planners.get(sync.connection)
            if planner is None:
                status = await engine.status(tx, sync.connection, sync)
                planner = planners[sync.connection] = _Planner(status, await _queued(tx))
            await _profile_changes(hub, tx, sync, causes, planner)

    return handle


class _Planner:
    """The planner's view for one connection while one commit's events are admitted."""

    def __init__(self, status: QuotaStatus, queued: int) -> None:
        self.status = status
        self.queued = queued

    def admit(self) -> bool:
        if self.status.mode_with(self.queued + 1) != "realtime":
            return False
        self.queued += 1
        return True


async def _queued(tx: AsyncConnection) -> int:
    """Realtime pushes admitted but not sent yet: they count as used for the planner."""
    return await scheduled_count(tx, PUSH_PROFILE_TASK)


async def _suppressed(
    tx: AsyncConnection, sync_id: str, subjects: Sequence[str], now: datetime
) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(subjects), _CHUNK):
        rows = await tx.execute(
            select(sync_suppressions.c.subject).where(
                sync_suppressions.c.sync_id == sync_id,
                sync_suppressions.c.subject.in_(subjects[start : start + _CHUNK]),
                sync_suppressions.c.until > now,
            )
        )
        found.update(rows.scalars())
    return found


async def _profile_changes(
    hub: Core, tx: AsyncConnection, sync: Sync, causes: dict[str, str], planner: _Planner
) -> None:
    """One commit's changed users (each with the event that changed it) for a profile
    push: suppressed ones are left to the periodic batch; the others get a realtime upsert,
    or wait in ``sync_pending`` when the planner holds realtime work back. A few statements
    per commit, not per event."""
    subjects: Sequence[str] = list(causes)
    now = hub.clock.now()
    window = float(sync.trigger.get("suppress_seconds") or 0)
    if window:
        suppressed = await _suppressed(tx, sync.id, subjects, now)
        subjects = [s for s in subjects if s not in suppressed]
    admitted: list[str] = []
    held: list[str] = []
    for subject in subjects:
        (admitted if planner.admit() else held).append(subject)
    held = [subject for subject in held if "@" in subject]  # cookie links: realtime only
    for start in range(0, len(held), _CHUNK):
        await tx.execute(
            insert_ignoring(tx, sync_pending).values(
                [
                    {"sync_id": sync.id, "subject": subject, "queued_at": now}
                    for subject in held[start : start + _CHUNK]
                ]
            )
        )
    if not admitted:
        return
    if window:
        until = now + timedelta(seconds=window)
        for start in range(0, len(admitted), _CHUNK):
            rows = [
                {"sync_id": sync.id, "subject": subject, "until": until}
                for subject in admitted[start : start + _CHUNK]
            ]
            await tx.execute(
                upsert(
                    tx,
                    sync_suppressions,
                    keys=["sync_id", "subject"],
                    values=rows,
                    update=["until"],
                )
            )
    await hub.queue.enqueue_many(
        tx,
        [
            NewJob(
                PUSH_PROFILE_TASK,
                {"sync_id": sync.id, "subject": subject, "event_id": causes[subject]},
                dedupe_key=f"{PUSH_PROFILE_TASK}:{sync.id}:{subject}",
            )
            for subject in admitted
        ],
    )
