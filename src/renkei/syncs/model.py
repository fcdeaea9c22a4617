"""Syncs and their runs as stored: create, read, update, delete, and run bookkeeping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors.sync_objects import SyncObject
from renkei.errors import Conflict, Invalid
from renkei.ids import new_id
from renkei.queue import is_valid_cron
from renkei.store.tables.syncs import sync_runs, syncs

__all__ = [
    "DIRECTIONS",
    "Sync",
    "SyncExists",
    "SyncInvalid",
    "SyncRun",
    "create_sync",
    "delete_sync",
    "fail_run",
    "find_sync",
    "list_runs",
    "list_syncs",
    "update_sync",
]

DIRECTIONS = ("pull", "push")
FINISHED = ("succeeded", "failed")
_COUNTS = ("read", "created", "updated", "skipped", "failed", "calls")
_TRIGGER_KEYS = frozenset({"every_seconds", "cron", "events", "names", "suppress_seconds"})


class SyncInvalid(Invalid, ValueError):
    """A sync's definition is wrong; the message says how."""

    default_code = "invalid_sync"


class SyncExists(Conflict):
    """A sync's name is taken."""


@dataclass(slots=True)
class Sync:
    id: str
    name: str
    connection: str
    direction: str
    object: str
    config: dict[str, Any]
    trigger: dict[str, Any]
    enabled: bool
    cursor: dict[str, Any] | None
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Sync:
        return cls(
            row.id,
            row.name,
            row.connection,
            row.direction,
            row.object,
            dict(row.config or {}),
            dict(row.trigger or {}),
            bool(row.enabled),
            None if row.cursor is None else dict(row.cursor),
            row.next_run_at,
            row.created_at,
            row.updated_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "connection": self.connection,
            "direction": self.direction,
            "object": self.object,
            "config": self.config,
            "trigger": self.trigger,
            "enabled": self.enabled,
            "cursor": self.cursor,
            "next_run_at": None if self.next_run_at is None else self.next_run_at.isoformat(),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    @property
    def realtime_events(self) -> list[str]:
        return [str(e) for e in self.trigger.get("events") or []]


@dataclass(slots=True)
class SyncRun:
    id: str
    sync_id: str
    trigger: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> SyncRun:
        counts = {k: int(getattr(row, k)) for k in ("read", "created", "updated", "skipped")}
        counts |= {"failed": int(row.failed), "calls": int(row.calls)}
        return cls(
            row.id,
            row.sync_id,
            row.trigger,
            row.status,
            counts,
            list(row.errors or []),
            row.started_at,
            row.finished_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sync_id": self.sync_id,
            "trigger": self.trigger,
            "status": self.status,
            **self.counts,
            "errors": self.errors,
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
        }


def validate(spec: dict[str, Any], connector: str, declared: Sequence[SyncObject]) -> None:
    """``declared``: what the connection's ``connector`` declares for syncs."""
    direction = spec.get("direction")
    if direction not in DIRECTIONS:
        raise SyncInvalid("direction must be pull or push")
    objects = [d.name for d in declared if d.direction == direction]
    if spec.get("object") not in objects:
        raise SyncInvalid(
            f"object must be one of {', '.join(objects) or '(none)'} for a {direction} "
            f"sync on a {connector} connection"
        )
    trigger = spec.get("trigger") or {}
    if not isinstance(trigger, dict):
        raise SyncInvalid("trigger must be an object")
    unknown = sorted(set(trigger) - _TRIGGER_KEYS)
    if unknown:
        raise SyncInvalid(f"unknown trigger field(s): {', '.join(unknown)}")
    if trigger.get("every_seconds") is not None and trigger.get("cron") is not None:
        raise SyncInvalid("a trigger has every_seconds or cron, not both")
    every = trigger.get("every_seconds")
    if every is not None and (not isinstance(every, int | float) or every <= 0):
        raise SyncInvalid("every_seconds must be a positive number")
    cron = trigger.get("cron")
    if cron is not None and not is_valid_cron(str(cron)):
        raise SyncInvalid(f"invalid cron expression {cron!r}")
    if trigger.get("events") and direction != "push":
        raise SyncInvalid("event triggers are for push syncs")
    if not isinstance(spec.get("config") or {}, dict):
        raise SyncInvalid("config must be an object")
    chosen = next(d for d in declared if d.direction == direction and d.name == spec["object"])
    check = getattr(chosen, "check", None)
    if check is not None and (problem := check(dict(spec.get("config") or {}))):
        raise SyncInvalid(problem)


async def create_sync(
    tx: AsyncConnection,
    spec: dict[str, Any],
    *,
    connector: str,
    declared: Sequence[SyncObject],
    now: datetime,
) -> Sync:
    validate(spec, connector, declared)
    if await find_sync(tx, str(spec["name"])) is not None:
        raise SyncExists(f"a sync named {spec['name']!r} exists")
    trigger = dict(spec.get("trigger") or {})
    values = {
        "id": new_id("sync"),
        "name": str(spec["name"]),
        "connection": str(spec["connection"]),
        "direction": spec["direction"],
        "object": spec["object"],
        "config": dict(spec.get("config") or {}),
        "trigger": trigger,
        "enabled": bool(spec.get("enabled", True)),
        "cursor": None,
        "next_run_at": None,  # the service sets it from the queue's schedule
        "created_at": now,
        "updated_at": now,
    }
    await tx.execute(insert(syncs).values(values))
    found = await find_sync(tx, values["id"])
    assert found is not None
    return found


async def update_sync(
    tx: AsyncConnection,
    sync: Sync,
    spec: dict[str, Any],
    *,
    connector: str,
    declared: Sequence[SyncObject],
    now: datetime,
) -> Sync:
    merged = sync.to_dict() | {k: v for k, v in spec.items() if v is not None}
    validate(merged, connector, declared)
    trigger = dict(merged.get("trigger") or {})
    await tx.execute(
        update(syncs)
        .where(syncs.c.id == sync.id)
        .values(
            connection=merged["connection"],
            direction=merged["direction"],
            object=merged["object"],
            config=dict(merged.get("config") or {}),
            trigger=trigger,
            enabled=bool(merged.get("enabled", True)),
            updated_at=now,
        )
    )
    found = await find_sync(tx, sync.id)
    assert found is not None
    return found


async def find_sync(connection: AsyncConnection, ref: str) -> Sync | None:
    column = syncs.c.id if ref.startswith("sync_") else syncs.c.name
    row = (await connection.execute(select(syncs).where(column == ref))).first()
    return None if row is None else Sync.from_row(row)


async def list_syncs(
    connection: AsyncConnection, *, limit: int = 100, after: str | None = None
) -> list[Sync]:
    statement = select(syncs).order_by(syncs.c.id).limit(limit)
    if after is not None:
        statement = statement.where(syncs.c.id > after)
    return [Sync.from_row(row) for row in await connection.execute(statement)]


async def delete_sync(tx: AsyncConnection, sync_id: str) -> None:
    from renkei.store.tables.syncs import sync_pending, sync_suppressions

    for table in (sync_runs, sync_pending, sync_suppressions):
        await tx.execute(delete(table).where(table.c.sync_id == sync_id))
    await tx.execute(delete(syncs).where(syncs.c.id == sync_id))


async def list_runs(
    connection: AsyncConnection, sync_id: str, *, limit: int = 50, before: str | None = None
) -> list[SyncRun]:
    statement = (
        select(sync_runs)
        .where(sync_runs.c.sync_id == sync_id)
        .order_by(sync_runs.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        statement = statement.where(sync_runs.c.id < before)
    return [SyncRun.from_row(row) for row in await connection.execute(statement)]


async def new_run(tx: AsyncConnection, sync_id: str, trigger: str, *, now: datetime) -> str:
    run_id = new_id("run")
    await tx.execute(
        insert(sync_runs).values(
            id=run_id,
            sync_id=sync_id,
            trigger=trigger,
            status="queued",
            read=0,
            created=0,
            updated=0,
            skipped=0,
            failed=0,
            calls=0,
            errors=[],
            started_at=now,
        )
    )
    return run_id


async def get_run(connection: AsyncConnection, run_id: str) -> SyncRun | None:
    row = (await connection.execute(select(sync_runs).where(sync_runs.c.id == run_id))).first()
    return None if row is None else SyncRun.from_row(row)


async def add_to_run(
    tx: AsyncConnection,
    run_id: str,
    counts: dict[str, int],
    errors: list[dict[str, Any]],
    *,
    status: str | None = None,
    finished_at: datetime | None = None,
) -> None:
    """Add to a run's counts in one statement (concurrent realtime pushes add to the same
    run: no lost update), its errors kept to the last 100."""
    values: dict[str, Any] = {
        key: getattr(sync_runs.c, key) + int(counts[key]) for key in _COUNTS if counts.get(key)
    }
    if errors:
        current = (
            await tx.execute(
                select(sync_runs.c.errors).where(sync_runs.c.id == run_id).with_for_update()
            )
        ).scalar_one_or_none()
        values["errors"] = (list(current or []) + errors)[-100:]
    if status is not None:
        values["status"] = status
    if finished_at is not None:
        values["finished_at"] = finished_at
    if values:
        await tx.execute(update(sync_runs).where(sync_runs.c.id == run_id).values(values))


async def fail_run(tx: AsyncConnection, run_id: str, message: str, *, now: datetime) -> bool:
    """Fail a run no job will finish (one more ``failed``, ``message`` in its errors), if it
    is still unfinished; False when it had finished meanwhile or is gone."""
    current = (
        await tx.execute(
            select(sync_runs.c.status, sync_runs.c.errors)
            .where(sync_runs.c.id == run_id)
            .with_for_update()
        )
    ).first()
    if current is None or current.status in FINISHED:
        return False
    errors = [*(current.errors or []), {"message": message[:500]}][-100:]
    moved = await tx.execute(
        update(sync_runs)
        .where(sync_runs.c.id == run_id, sync_runs.c.status.not_in(FINISHED))
        .values(status="failed", failed=sync_runs.c.failed + 1, errors=errors, finished_at=now)
    )
    return bool(moved.rowcount == 1)
