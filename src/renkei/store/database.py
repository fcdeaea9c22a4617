"""Engines and transactions for SQLite (embedded default) and PostgreSQL.

SQLite allows one writer at a time. Write transactions therefore start with
``BEGIN IMMEDIATE`` on a single pooled connection: writers in this process queue for it
without spinning, and other processes' locks are waited out without blocking the loop.
That connection runs on the event loop's thread (``store/inline_sqlite.py``): a write
statement takes microseconds, a hop to a driver thread far longer. Reads use a separate,
threaded engine whose transactions never take the write lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_

from renkei.store import inline_sqlite
from renkei.store.checkpoints import WalCheckpointer

Dialect = Literal["sqlite", "postgresql"]

_BUSY_TIMEOUT_SECONDS = 30
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    f"PRAGMA busy_timeout={_BUSY_TIMEOUT_SECONDS * 1000}",
    "PRAGMA foreign_keys=ON",
)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_loads(value: Any) -> Any:
    # SQLite gives a JSON column NUMERIC affinity: a document that is a bare number is kept
    # as a number, and comes back as one, not as JSON text.
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


def async_url(url: str) -> str:
    """``sqlite:///x.db`` → ``sqlite+aiosqlite:///x.db``; ``postgresql://`` → asyncpg."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database: {backend} (use sqlite:/// or postgresql://)")


def _sqlite_engine(
    url: str,
    *,
    begin: str,
    pool_size: int,
    inline: bool = False,
    checkpointer: WalCheckpointer | None = None,
) -> AsyncEngine:
    """``inline``: the write engine, whose connection runs on the loop's thread.
    ``checkpointer``: its connection leaves WAL checkpoints to that thread (started with
    the first connection)."""
    options: dict[str, Any] = {}
    if inline:
        pragmas: tuple[str, ...] = SQLITE_PRAGMAS
        if checkpointer is not None:
            pragmas = (*pragmas, "PRAGMA wal_autocheckpoint=0")
        options["async_creator"] = inline_sqlite.connect(
            make_url(url).database or ":memory:",
            busy_timeout=_BUSY_TIMEOUT_SECONDS,
            pragmas=pragmas,
            on_open=None if checkpointer is None else checkpointer.start,
        )
    engine = create_async_engine(
        url,
        **options,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
        json_serializer=_json_dumps,
        json_deserializer=_json_loads,
        connect_args={"timeout": 30},
        # Connection.close() already rolls back an open transaction; the pool's own reset
        # would be one more trip to aiosqlite's thread per transaction, for nothing.
        pool_reset_on_return=None,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        if inline:
            return  # opened in autocommit mode, pragmas applied (inline_sqlite.connect)
        # Take transaction control away from the driver so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        # Straight to aiosqlite: one trip to its thread instead of three (cursor, execute,
        # close); every write transaction pays it, ingest's group commits most of all.
        await_(connection.connection.driver_connection.execute(begin))

    return engine


class Database:
    """The one way the rest of Renkei reaches the database."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.dialect: Dialect = (
            "sqlite" if make_url(url).get_backend_name() == "sqlite" else ("postgresql")
        )
        driver_url = async_url(url)
        self.checkpointer: WalCheckpointer | None = None
        if self.dialect == "sqlite":
            path = make_url(url).database
            if path and path != ":memory:":
                self.checkpointer = WalCheckpointer(path)
            self.writer = _sqlite_engine(
                driver_url,
                begin="BEGIN IMMEDIATE",
                pool_size=1,
                inline=True,
                checkpointer=self.checkpointer,
            )
            self.reader = _sqlite_engine(driver_url, begin="BEGIN", pool_size=4)
        else:
            self.writer = create_async_engine(
                driver_url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                json_serializer=_json_dumps,
                json_deserializer=_json_loads,
            )
            self.reader = self.writer
        self._commit_hooks: list[tuple[str, Callable[[], None]]] = []

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def on_commit(self, flag: str, hook: Callable[[], None]) -> None:
        """Call ``hook`` after a write transaction commits that set ``connection.info[flag]``."""
        self._commit_hooks.append((flag, hook))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.writer.begin() as connection:
            try:
                yield connection
            finally:
                raised = {
                    flag for flag, _ in self._commit_hooks if connection.info.pop(flag, False)
                }
        for flag, hook in self._commit_hooks:
            if flag in raised:
                hook()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.connect() as connection:
            yield connection

    async def ping(self, timeout: float = 2.0) -> None:
        async with self.reader.connect() as connection:
            await connection.execute(text("SELECT 1"), execution_options={"timeout": timeout})

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
        if self.checkpointer is not None:
            await asyncio.to_thread(self.checkpointer.stop)
