"""The ``alerts`` rows: open or bump one, acknowledge, resolve, read.

A subject has at most one unresolved alert per kind (``open_key`` is unique while it is
set), so however many failures arrive at once, one alert opens and ``alert.opened`` is
recorded once; the next failures only bump ``count`` and ``last_seen``. ``alert.resolved``
is recorded by the one statement that resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.log import record_events
from renkei.events.system import ALERT_OPENED, ALERT_RESOLVED, short_reason, system_event
from renkei.ids import new_id
from renkei.store.statements import insert_ignoring
from renkei.store.tables.alerts import alerts

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = [
    "Alert",
    "acknowledge",
    "find",
    "list_page",
    "observe",
    "resolve",
    "resolve_subject",
    "stale",
]

UNRESOLVED = ("open", "acknowledged")


@dataclass(frozen=True)
class Alert:
    id: str
    kind: str
    subject_type: str
    subject_id: str
    status: str
    first_seen: datetime
    last_seen: datetime
    count: int
    sample: dict[str, Any] | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "status": self.status,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "count": self.count,
            "sample": self.sample,
            "acknowledged_at": self.acknowledged_at,
            "resolved_at": self.resolved_at,
        }


def _alert(row: Any) -> Alert:
    return Alert(
        id=row.id,
        kind=row.kind,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        status=row.status,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        count=int(row.count),
        sample=row.sample,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
    )


def _open_key(kind: str, subject_type: str, subject_id: str) -> str:
    return f"{kind}|{subject_type}|{subject_id}"[:400]


async def observe(
    hub: Core,
    tx: AsyncConnection,
    *,
    kind: str,
    subject_type: str,
    subject_id: str,
    sample: dict[str, Any],
) -> bool:
    """The problem was seen now: open its alert (True, ``alert.opened`` recorded) or bump
    the unresolved one (False)."""
    now = hub.clock.now()
    key = _open_key(kind, subject_type, subject_id)
    alert_id = new_id("alr")
    inserted = await tx.execute(
        insert_ignoring(tx, alerts).values(
            id=alert_id,
            kind=kind,
            subject_type=subject_type,
            subject_id=subject_id[:255],
            status="open",
            open_key=key,
            first_seen=now,
            last_seen=now,
            count=1,
            sample=sample,
        )
    )
    if inserted.rowcount == 1:
        await _notify(hub, tx, ALERT_OPENED, alert_id)
        return True
    await tx.execute(
        update(alerts)
        .where(alerts.c.open_key == key)
        .values(count=alerts.c.count + 1, last_seen=now, sample=sample)
    )
    return False


async def resolve(
    hub: Core, tx: AsyncConnection, alert_id: str, *, quiet_since: datetime | None = None
) -> bool:
    """Resolve an unresolved alert (``alert.resolved`` recorded); False if it was not.
    ``quiet_since``: only if not seen since then (a failure may have come meanwhile)."""
    statement = update(alerts).where(alerts.c.id == alert_id, alerts.c.status.in_(UNRESOLVED))
    if quiet_since is not None:
        statement = statement.where(alerts.c.last_seen < quiet_since)
    moved = await tx.execute(
        statement.values(status="resolved", open_key=None, resolved_at=hub.clock.now())
    )
    if moved.rowcount != 1:
        return False
    await _notify(hub, tx, ALERT_RESOLVED, alert_id)
    return True


async def resolve_subject(
    hub: Core, tx: AsyncConnection, *, kind: str, subject_type: str, subject_id: str
) -> bool:
    key = _open_key(kind, subject_type, subject_id)
    found = (
        await tx.execute(select(alerts.c.id).where(alerts.c.open_key == key))
    ).scalar_one_or_none()
    return found is not None and await resolve(hub, tx, found)


async def acknowledge(hub: Core, tx: AsyncConnection, alert_id: str) -> bool:
    """Mark an open alert seen by someone; False if it was not open."""
    moved = await tx.execute(
        update(alerts)
        .where(alerts.c.id == alert_id, alerts.c.status == "open")
        .values(status="acknowledged", acknowledged_at=hub.clock.now())
    )
    return bool(moved.rowcount == 1)


async def find(connection: AsyncConnection, alert_id: str) -> Alert | None:
    row = (await connection.execute(select(alerts).where(alerts.c.id == alert_id))).first()
    return None if row is None else _alert(row)


async def stale(connection: AsyncConnection, before: datetime, limit: int) -> list[str]:
    """Unresolved alerts not seen since ``before``: their problem stopped."""
    rows = await connection.execute(
        select(alerts.c.id)
        .where(alerts.c.status.in_(UNRESOLVED), alerts.c.last_seen < before)
        .order_by(alerts.c.last_seen)
        .limit(limit)
    )
    return list(rows.scalars())


async def list_page(
    connection: AsyncConnection,
    *,
    limit: int,
    after: str | None = None,
    status: str | None = None,
    kind: str | None = None,
) -> list[Alert]:
    """Newest first (ids sort by creation time, so a page never shifts as alerts are
    seen again); ``after``: the id of the previous page's last alert."""
    query: Select[Any] = select(alerts)
    if status is not None:
        query = query.where(alerts.c.status == status)
    if kind is not None:
        query = query.where(alerts.c.kind == kind)
    if after is not None:
        query = query.where(alerts.c.id < after)
    rows = await connection.execute(query.order_by(alerts.c.id.desc()).limit(limit))
    return [_alert(row) for row in rows]


async def _notify(hub: Core, tx: AsyncConnection, event_type: str, alert_id: str) -> None:
    alert = await find(tx, alert_id)
    assert alert is not None  # written by this transaction
    sample = alert.sample or {}
    data = {
        "alert_id": alert.id,
        "kind": alert.kind,
        "subject_type": alert.subject_type,
        "subject_id": alert.subject_id,
        "status": alert.status,
        "first_seen": alert.first_seen.isoformat(),
        "last_seen": alert.last_seen.isoformat(),
        "count": alert.count,
        "reason": short_reason(str(sample.get("reason") or alert.kind)),
    }
    suffix = "opened" if event_type == ALERT_OPENED else "resolved"
    event = system_event(event_type, data, at=hub.clock.now(), event_id=f"evt_{alert.id}_{suffix}")
    await record_events(hub, tx, [event])
