"""Whether calls to a connection are failing: ``connection.failing`` once a streak of failed
calls has lasted ``RENKEI_CONNECTION_FAILING_AFTER_SECONDS``, ``connection.recovered`` at
the first call that succeeds after it (one event per streak, whichever process sees it).

A streak is one row of ``connection_health``; a failure long after the last one (more
than the threshold) starts a new streak rather than extend a stale one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors.call_counts import counts_as_failing
from renkei.connectors.errors import ConnectorError
from renkei.events.log import record_events
from renkei.events.system import (
    CONNECTION_FAILING,
    CONNECTION_RECOVERED,
    short_reason,
    system_event,
)
from renkei.store.statements import insert_ignoring
from renkei.store.tables.alerts import connection_health

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["ConnectionHealth", "counts_as_failing"]


class ConnectionHealth:
    def __init__(self, hub: Core) -> None:
        self.hub = hub
        # Connections this process saw fail: a success on them checks for a streak to end
        # (a success on a connection no process marked failing costs no statement).
        self._troubled: set[str] = set()

    def may_be_failing(self, connection_id: str) -> bool:
        return connection_id in self._troubled

    async def failed(self, connection_id: str, error: ConnectorError) -> None:
        self._troubled.add(connection_id)
        now = self.hub.clock.now()
        after = timedelta(seconds=self.hub.settings.connection_failing_after_seconds)
        reason = short_reason(f"{type(error).__name__} {error.code}")
        async with self.hub.database.transaction() as tx:
            await tx.execute(
                insert_ignoring(tx, connection_health).values(
                    connection_id=connection_id,
                    failing_since=now,
                    last_failure_at=now,
                    reason=reason,
                    notified=False,
                )
            )
            streak = (
                await tx.execute(
                    select(connection_health)
                    .where(connection_health.c.connection_id == connection_id)
                    .with_for_update()
                )
            ).one()
            since = streak.failing_since
            if not streak.notified and streak.last_failure_at < now - after:
                since = now  # the old streak ended unseen: this failure starts another
            notify = not streak.notified and now - since >= after
            await tx.execute(
                update(connection_health)
                .where(connection_health.c.connection_id == connection_id)
                .values(
                    failing_since=since,
                    last_failure_at=now,
                    reason=reason,
                    notified=streak.notified or notify,
                )
            )
            if notify:
                data = {
                    "connection_id": connection_id,
                    "failing_since": since.isoformat(),
                    "reason": reason,
                }
                await record_events(self.hub, tx, [system_event(CONNECTION_FAILING, data, at=now)])

    async def succeeded(self, connection_id: str) -> None:
        self._troubled.discard(connection_id)
        async with self.hub.database.transaction() as tx:
            await self.end_streak(tx, connection_id)

    async def end_streak(self, tx: AsyncConnection, connection_id: str) -> None:
        now = self.hub.clock.now()
        streak = (
            await tx.execute(
                delete(connection_health)
                .where(connection_health.c.connection_id == connection_id)
                .returning(connection_health.c.failing_since, connection_health.c.notified)
            )
        ).first()
        if streak is None or not streak.notified:
            return
        data = {
            "connection_id": connection_id,
            "failing_since": streak.failing_since.isoformat(),
            "recovered_at": now.isoformat(),
        }
        event = system_event(CONNECTION_RECOVERED, data, at=now)
        await record_events(self.hub, tx, [event])
