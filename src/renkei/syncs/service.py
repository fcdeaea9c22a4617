"""``hub.syncs``: what the API, the CLI and the config loader call."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors.connections import find_connection
from renkei.connectors.sync_objects import SyncObject
from renkei.errors import NotFound
from renkei.queue import Periodic
from renkei.store.tables.syncs import syncs
from renkei.syncs import model
from renkei.syncs.changes import changes_of_event
from renkei.syncs.engine import RUN_TASK, SyncEngine
from renkei.syncs.model import Sync, SyncInvalid, SyncRun
from renkei.syncs.realtime import LiveSyncs

if TYPE_CHECKING:
    from renkei.connectors.service import ConnectorService
    from renkei.core import Core

__all__ = ["SyncNotFound", "SyncService"]

SCHEDULE_TASK = "syncs.schedule"


def schedule_name(sync_id: str) -> str:
    return f"sync:{sync_id}"


class SyncNotFound(NotFound, LookupError):
    def __init__(self, ref: str) -> None:
        super().__init__("sync", ref)
        self.ref = ref


class SyncService:
    def __init__(self, hub: Core, connectors: ConnectorService) -> None:
        self.hub = hub
        self.engine = SyncEngine(hub, connectors)
        self.live = LiveSyncs(hub.settings.sync_refresh_seconds)

    async def _connector_of(self, connection: Any, ref: str) -> str:
        row = await find_connection(connection, ref)
        if row is None:
            raise SyncInvalid(f"connection {ref!r} not found")
        return str(row.connector)

    def _declared(self, connector: str) -> tuple[SyncObject, ...]:
        return self.engine.connectors.registry.sync_objects(connector)

    async def create(self, spec: dict[str, Any]) -> Sync:
        if not spec.get("name") or not spec.get("connection"):
            raise SyncInvalid("a sync needs a name and a connection")
        async with self.hub.database.transaction() as tx:
            connector = await self._connector_of(tx, str(spec["connection"]))
            created = await model.create_sync(
                tx,
                spec,
                connector=connector,
                declared=self._declared(connector),
                now=self.hub.clock.now(),
            )
            created = await self._schedule(tx, created)
        self.live.invalidate()
        return created

    async def update(self, ref: str, spec: dict[str, Any]) -> Sync:
        async with self.hub.database.transaction() as tx:
            sync = await model.find_sync(tx, ref)
            if sync is None:
                raise SyncNotFound(ref)
            connector = await self._connector_of(tx, str(spec.get("connection") or sync.connection))
            updated = await model.update_sync(
                tx,
                sync,
                spec,
                connector=connector,
                declared=self._declared(connector),
                now=self.hub.clock.now(),
            )
            updated = await self._schedule(tx, updated)
        self.live.invalidate()
        return updated

    async def get(self, ref: str) -> Sync:
        async with self.hub.database.read() as connection:
            sync = await model.find_sync(connection, ref)
        if sync is None:
            raise SyncNotFound(ref)
        return sync

    async def list(self, *, limit: int = 100, after: str | None = None) -> list[Sync]:
        async with self.hub.database.read() as connection:
            return await model.list_syncs(connection, limit=limit, after=after)

    async def delete(self, ref: str) -> None:
        sync = await self.get(ref)
        async with self.hub.database.transaction() as tx:
            await model.delete_sync(tx, sync.id)
            await self.hub.queue.drop_schedule(tx, schedule_name(sync.id))
        self.live.invalidate()

    async def run(self, ref: str, *, trigger: str = "manual", from_start: bool = False) -> str:
        """Queue a run (a backfill from the start when ``from_start``); returns its id."""
        sync = await self.get(ref)
        async with self.hub.database.transaction() as tx:
            if from_start:
                await tx.execute(update(syncs).where(syncs.c.id == sync.id).values(cursor=None))
            run_id = await model.new_run(tx, sync.id, trigger, now=self.hub.clock.now())
            await self.hub.queue.enqueue(tx, RUN_TASK, {"sync_id": sync.id, "run_id": run_id})
        return run_id

    async def runs(
        self, ref: str, *, limit: int = 50, before: str | None = None
    ) -> builtins.list[SyncRun]:
        sync = await self.get(ref)
        async with self.hub.database.read() as connection:
            return await model.list_runs(connection, sync.id, limit=limit, before=before)

    async def get_run(self, run_id: str) -> SyncRun | None:
        async with self.hub.database.read() as connection:
            return await model.get_run(connection, run_id)

    async def changes_of_event(
        self, connection: AsyncConnection, event_id: str
    ) -> builtins.list[dict[str, Any]]:
        """What realtime pushes did for ``event_id`` (an event's timeline)."""
        return await changes_of_event(connection, event_id)

    async def quota(self, connection_ref: str) -> dict[str, Any]:
        async with self.hub.database.read() as connection:
            status = await self.engine.status(connection, connection_ref)
        return status.as_dict()

    async def _schedule(self, tx: AsyncConnection, sync: Sync) -> Sync:
        """Set (or drop) the queue's schedule for the sync's ``every_seconds``/``cron``
        trigger; the sync's ``next_run_at`` shows its next tick."""
        every, cron = sync.trigger.get("every_seconds"), sync.trigger.get("cron")
        name = schedule_name(sync.id)
        if not every and not cron:
            await self.hub.queue.drop_schedule(tx, name)
            next_run_at = None
        else:
            periodic = Periodic(
                name,
                SCHEDULE_TASK,
                every_seconds=float(every) if every else None,
                cron=str(cron) if cron else None,
                payload={"sync_id": sync.id},
            )
            next_run_at = await self.hub.queue.set_schedule(tx, periodic)
        await tx.execute(update(syncs).where(syncs.c.id == sync.id).values(next_run_at=next_run_at))
        return replace(sync, next_run_at=next_run_at)

    async def scheduled_run(self, tick: Mapping[str, Any]) -> str | None:
        """Queue a run for a tick of a sync's schedule; returns its id, or None when the
        sync is disabled or gone (a tick skipped, not kept for later)."""
        sync_id = str(tick.get("sync_id"))
        async with self.hub.database.transaction() as tx:
            next_run_at = await self.hub.queue.next_run(tx, schedule_name(sync_id))
            await tx.execute(
                update(syncs).where(syncs.c.id == sync_id).values(next_run_at=next_run_at)
            )
            sync = await model.find_sync(tx, sync_id)
            if sync is None or not sync.enabled:
                return None
            run_id = await model.new_run(tx, sync.id, "schedule", now=self.hub.clock.now())
            await self.hub.queue.enqueue(tx, RUN_TASK, {"sync_id": sync.id, "run_id": run_id})
        return run_id
