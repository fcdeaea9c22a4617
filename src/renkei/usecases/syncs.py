"""Syncs: create, list, get, update, delete, run now (or a backfill), their runs, and the
quota planner's view of a connection.

The sync service keeps its own transactions (a change also refreshes the realtime syncs'
cache); ``sync.created`` is audited right after the sync commits, as it always was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.connectors.errors import PermanentError
from renkei.errors import NotFound
from renkei.syncs.model import Sync, SyncRun
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = [
    "create_sync",
    "delete_sync",
    "get_run",
    "get_sync",
    "list_runs",
    "list_syncs",
    "quota",
    "run_sync",
    "update_sync",
]


async def create_sync(hub: Hub, actor: Actor, spec: dict[str, Any]) -> Sync:
    require(actor, "write")
    sync = await hub.syncs.create(spec)
    async with hub.database.transaction() as tx:
        await hub.audit(tx, actor, "sync.created", target_type="sync", target_id=sync.id)
    return sync


async def list_syncs(
    hub: Hub, actor: Actor, *, limit: int | None = None, cursor: str | None = None
) -> Listed[Sync]:
    require(actor, "read")
    size = clamp_limit(limit)
    found = await hub.syncs.list(limit=size + 1, after=decode_cursor(cursor))
    return Listed.cut(found, size, lambda sync: sync.id)


async def get_sync(hub: Hub, actor: Actor, ref: str) -> Sync:
    """A sync by id or name."""
    require(actor, "read")
    return await hub.syncs.get(ref)


async def update_sync(hub: Hub, actor: Actor, ref: str, changes: dict[str, Any]) -> Sync:
    require(actor, "write")
    return await hub.syncs.update(ref, changes)


async def delete_sync(hub: Hub, actor: Actor, ref: str) -> None:
    require(actor, "write")
    await hub.syncs.delete(ref)


async def run_sync(hub: Hub, actor: Actor, ref: str, *, from_start: bool = False) -> SyncRun:
    """Queue a run now (``from_start``: forget the cursor, a backfill); returns the run."""
    require(actor, "write")
    run_id = await hub.syncs.run(ref, from_start=from_start)
    return await get_run(hub, actor, run_id)


async def get_run(hub: Hub, actor: Actor, run_id: str) -> SyncRun:
    require(actor, "read")
    found = await hub.syncs.get_run(run_id)
    if found is None:
        raise NotFound("sync run", run_id)
    return found


async def list_runs(
    hub: Hub, actor: Actor, ref: str, *, limit: int | None = None, cursor: str | None = None
) -> Listed[SyncRun]:
    """A sync's runs, newest first."""
    require(actor, "read")
    size = clamp_limit(limit)
    found = await hub.syncs.runs(ref, limit=size + 1, before=decode_cursor(cursor))
    return Listed.cut(found, size, lambda run: run.id)


async def quota(hub: Hub, actor: Actor, connection_ref: str) -> dict[str, Any]:
    """Today's quota of a connection as the planner sees it: used, remaining, projected and
    the mode."""
    require(actor, "read")
    try:
        return await hub.syncs.quota(connection_ref)
    except PermanentError:
        # The planner's "connection 'x' not found" in the error tree's words, like every
        # other missing object.
        raise NotFound("connection", connection_ref) from None
