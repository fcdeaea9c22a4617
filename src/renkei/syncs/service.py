"""``hub.services["syncs"]``: what the API, the CLI and the config loader call."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from renkei.connectors.connections import find_connection
from renkei.store.tables.syncs import syncs
from renkei.syncs import model
from renkei.syncs.engine import RUN_TASK, SyncEngine
from renkei.syncs.model import Sync, SyncInvalid, SyncRun
from renkei.syncs.realtime import LiveSyncs

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["SyncNotFound", "SyncService"]

TICK_TASK = "syncs.tick"


class SyncNotFound(LookupError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"sync {ref!r} not found")
        self.ref = ref


class SyncService:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.engine = SyncEngine(hub)
        self.live = LiveSyncs(hub.settings.sync_refresh_seconds)

    async def _connector_of(self, connection: Any, ref: str) -> str:
        row = await find_connection(connection, ref)
        if row is None:
            raise SyncInvalid(f"connection {ref!r} not found")
        return str(row.connector)

    async def create(self, spec: dict[str, Any]) -> Sync:
        if not spec.get("name") or not spec.get("connection"):
            raise SyncInvalid("a sync needs a name and a connection")
        async with self.hub.database.transaction() as tx:
            connector = await self._connector_of(tx, str(spec["connection"]))
            created = await model.create_sync(
                tx, spec, connector=connector, now=self.hub.clock.now()
            )
        self.live.invalidate()
        return created

    async def update(self, ref: str, spec: dict[str, Any]) -> Sync:
        async with self.hub.database.transaction() as tx:
            sync = await model.find_sync(tx, ref)
            if sync is None:
                raise SyncNotFound(ref)
            connector = await self._connector_of(tx, str(spec.get("connection") or sync.connection))
            updated = await model.update_sync(
                tx, sync, spec, connector=connector, now=self.hub.clock.now()
            )
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

    async def quota(self, connection_ref: str) -> dict[str, Any]:
        async with self.hub.database.read() as connection:
            status = await self.engine.status(connection, connection_ref)
        return status.as_dict()

    async def tick(self) -> int:
        """Queue a run of every enabled sync whose schedule is due; returns how many."""
        now = self.hub.clock.now()
        queued = 0
        async with self.hub.database.transaction() as tx:
            rows = (
                await tx.execute(
                    select(syncs).where(
                        syncs.c.enabled.is_(True),
                        syncs.c.next_run_at.is_not(None),
                        syncs.c.next_run_at <= now,
                    )
                )
            ).all()
            for row in rows:
                sync = Sync.from_row(row)
                run_id = await model.new_run(tx, sync.id, "schedule", now=now)
                await self.hub.queue.enqueue(tx, RUN_TASK, {"sync_id": sync.id, "run_id": run_id})
                await tx.execute(
                    update(syncs)
                    .where(syncs.c.id == sync.id)
                    .values(next_run_at=model.next_run_at(sync.trigger, now))
                )
                queued += 1
        return queued
