"""The two inserts whose SQL each backend builds its own way: insert-ignoring and upsert.

SQLite and PostgreSQL both spell them ``INSERT ... ON CONFLICT``, but SQLAlchemy has no
portable construct: each dialect has its own ``insert``. Callers name neither; they pass
the :class:`~renkei.store.Database` or the connection they hold. Statements are built the
same way every time, so SQLAlchemy's compiled cache serves them as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.store.database import Database

__all__ = ["insert_ignoring", "upsert"]

_DialectInsert = Callable[[Table], "sqlite.Insert | postgresql.Insert"]
_INSERTS: dict[str, _DialectInsert] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}

Rows = Mapping[str, Any] | Sequence[Mapping[str, Any]]


def _insert(on: Database | AsyncConnection, table: Table) -> sqlite.Insert | postgresql.Insert:
    name = on.dialect if isinstance(on, Database) else on.dialect.name
    return _INSERTS[name](table)


def insert_ignoring(on: Database | AsyncConnection, table: Table) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING``: a row that would break a unique constraint
    is skipped; ``rowcount`` (or ``RETURNING``) tells which rows went in."""
    return _insert(on, table).on_conflict_do_nothing()


def upsert(
    on: Database | AsyncConnection,
    table: Table,
    *,
    keys: Sequence[str],
    values: Rows | None = None,
    update: Iterable[str] = (),
    add: Iterable[str] = (),
    set_: Mapping[str, Any] | None = None,
    where: ColumnElement[bool] | None = None,
) -> Insert:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE``: a row whose ``keys`` are taken updates
    the stored row instead. ``update`` names the columns that take the offered row's value;
    ``add`` those that add it to the stored value (counters: the database adds, so writers
    racing on one row lose no count); ``set_`` gives others an expression; ``where`` limits
    which stored rows change (a row it refuses is neither inserted nor updated). Without
    ``values``, execute it with rows."""
    statement = _insert(on, table)
    if values is not None:
        statement = statement.values(values)
    changes: dict[str, Any] = {name: statement.excluded[name] for name in update}
    for name in add:
        changes[name] = table.c[name] + statement.excluded[name]
    changes.update(set_ or {})
    return statement.on_conflict_do_update(
        index_elements=[table.c[key] for key in keys], set_=changes, where=where
    )
