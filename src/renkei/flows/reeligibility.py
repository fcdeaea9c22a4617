"""Who may enter a flow again: ``always``, ``once`` (never again) or ``once_per`` N hours.

One row per (flow, user key) in ``flow_entries``; entering is a single conditional upsert,
so two workers that start the same user at the same moment cannot both get in: the
primary key makes the second wait for the first, then find the row and not match.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.flows.spec import Reeligibility
from renkei.store.statements import insert_ignoring, upsert
from renkei.store.tables.flows import flow_entries

__all__ = ["enter", "storable_key"]

_MAX_KEY = 255


def storable_key(key: str) -> str:
    """Keys longer than the column are stored as their SHA-256, still one per user."""
    if len(key) <= _MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


async def enter(
    connection: AsyncConnection,
    *,
    flow_id: str,
    key: str,
    rule: Reeligibility,
    now: datetime,
) -> bool:
    """True if the user may enter now (and is recorded as entered), in the caller's transaction."""
    if rule.mode == "always":
        return True
    row = {"flow_id": flow_id, "user_key": storable_key(key), "entered_at": now, "entries": 1}
    if rule.mode == "once":
        statement = insert_ignoring(connection, flow_entries).values(row)
    else:
        assert rule.hours is not None
        cutoff = now - timedelta(hours=rule.hours)
        statement = upsert(
            connection,
            flow_entries,
            keys=["flow_id", "user_key"],
            values=row,
            update=["entered_at"],
            set_={"entries": flow_entries.c.entries + 1},
            where=flow_entries.c.entered_at <= cutoff,
        )
    result = await connection.execute(statement.returning(flow_entries.c.flow_id))
    return result.first() is not None
