"""The ``operations`` rows: create one (or find the identical one under way), read, list."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.envelope import format_timestamp
from renkei.ids import new_id
from renkei.store.tables.operations import operations

__all__ = ["Operation", "create", "find_under_way", "get", "latest", "operation_key"]

UNDER_WAY = ("pending", "running")


@dataclass(frozen=True)
class Operation:
    id: str
    kind: str
    status: str
    filter: dict[str, Any]
    total: int
    done: int
    skipped: int
    failed: int
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Operation:
        return cls(
            row.id,
            row.kind,
            row.status,
            dict(row.filter or {}),
            row.total,
            row.done,
            row.skipped,
            row.failed,
            None if row.result is None else dict(row.result),
            row.error,
            row.created_at,
            row.finished_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "total": self.total,
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "filter": self.filter,
            "result": self.result,
            "error": self.error,
            "created_at": format_timestamp(self.created_at),
            "finished_at": None if self.finished_at is None else format_timestamp(self.finished_at),
        }


def operation_key(kind: str, filter: dict[str, Any]) -> str:
    """The identity of what an operation does: its kind and filter."""
    document = orjson.dumps({"kind": kind, "filter": filter}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(document).hexdigest()


async def find_under_way(connection: AsyncConnection, key: str) -> Operation | None:
    row = (
        await connection.execute(
            select(operations)
            .where(operations.c.key == key, operations.c.status.in_(UNDER_WAY))
            .order_by(operations.c.id)
            .limit(1)
        )
    ).first()
    return None if row is None else Operation.from_row(row)


async def create(
    tx: AsyncConnection,
    kind: str,
    filter: dict[str, Any],
    *,
    total: int,
    now: datetime,
    status: str = "pending",
    result: dict[str, Any] | None = None,
) -> Operation:
    operation_id = new_id("op")
    row = {
        "id": operation_id,
        "kind": kind,
        "key": operation_key(kind, filter),
        "status": status,
        "filter": filter,
        "cursor": None,
        "total": total,
        "done": total if status == "done" else 0,
        "skipped": 0,
        "failed": 0,
        "result": result,
        "error": None,
        "created_at": now,
        "updated_at": now,
        "finished_at": now if status == "done" else None,
    }
    await tx.execute(insert(operations).values(**row))
    created = await get(tx, operation_id)
    assert created is not None  # just inserted, in this transaction
    return created


async def get(connection: AsyncConnection, operation_id: str) -> Operation | None:
    row = (
        await connection.execute(select(operations).where(operations.c.id == operation_id))
    ).first()
    return None if row is None else Operation.from_row(row)


async def latest(connection: AsyncConnection, key: str) -> Operation | None:
    """The newest operation that did this, whatever became of it."""
    row = (
        await connection.execute(
            select(operations)
            .where(operations.c.key == key)
            .order_by(operations.c.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else Operation.from_row(row)
