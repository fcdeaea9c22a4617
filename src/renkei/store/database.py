"""Engines and transactions for SQLite (embedded default) and PostgreSQL.

SQLite allows one writer at a time. Write transactions therefore start with
``BEGIN IMMEDIATE`` on a single pooled connection: writers in this process queue for it
without spinning, and other processes' locks are waited out without blocking the loop.
That connection runs on the event loop's thread (``store/inline_sqlite.py``): a write
statement takes microseconds, a hop to a driver thread far longer. Reads use a separate,
threaded engine whose transactions never take the write lock.

On PostgreSQL every wait is bounded (``RENKEI_DATABASE_*_TIMEOUT_SECONDS``): connecting,
waiting for a pooled connection, and each statement; a pooled connection is pinged (with
a short timeout) before it is handed out. ``read()`` and ``transaction()`` raise
:class:`~renkei.store.errors.DatabaseUnavailable` for any failure that means the database
cannot be reached, so a database that stops answering turns into a 503 within seconds
instead of a request that hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Literal

import orjson
import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, PoolProxiedConnection, QueuePool
from sqlalchemy.util import await_

from renkei.store import inline_sqlite
from renkei.store.checkpoints import WalCheckpointer
from renkei.store.errors import DatabaseUnavailable, NoConnection, is_outage, is_unavailable
from renkei.store.local_channels import rendezvous
from renkei.store.urls import database_file
from renkei.store.write_gate import WriteGate

Dialect = Literal["sqlite", "postgresql"]
log = structlog.get_logger("renkei.store")

_BUSY_TIMEOUT_SECONDS = 30
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    f"PRAGMA busy_timeout={_BUSY_TIMEOUT_SECONDS * 1000}",
    "PRAGMA foreign_keys=ON",
    # Deleted rows and freed pages are overwritten with zeros, so a deleted person leaves
    # no bytes behind in the file's free space (docs/privacy.md); store/purge.py empties the
    # WAL of their old page images.
    "PRAGMA secure_delete=ON",
)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_loads(value: Any) -> Any:
    # SQLite gives a JSON column NUMERIC affinity: a document that is a bare number is kept
    # as a number, and comes back as one, not as JSON text.
    if isinstance(value, int | float):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        # Not JSON (a row written behind Renkei's back): the text itself, so that one bad
        # row cannot break every read of its table (the reader decides what to show).
        return value


def async_url(url: str) -> str:
    """``sqlite:///x.db`` → ``sqlite+aiosqlite:///x.db``; ``postgresql://`` → asyncpg."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database: {backend} (use sqlite:/// or postgresql://)")


_FRESH = "renkei.fresh"
_MAX_PING_SECONDS = 2.0
_BREAKER_HOLD_SECONDS = 1.0


def _bound_waits(engine: AsyncEngine, ping_timeout: float) -> None:
    """PostgreSQL: ping a pooled connection before handing it out, and drop a connection
    whose statement timed out (it may still be waiting for an answer)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _fresh(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_FRESH] = True  # just connected: no need to ping it

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        if record.info.pop(_FRESH, False):
            return
        try:
            await_(dbapi_connection.driver_connection.fetchval("SELECT 1", timeout=ping_timeout))
        except Exception as error:
            # Closed at once: a polite close would wait for an answer too. Every pooled
            # connection is suspect: the next checkouts reconnect (bounded by the connect
            # timeout) instead of each waiting out its own ping.
            dbapi_connection.driver_connection.terminate()
            disconnected = DisconnectionError(f"ping failed: {type(error).__name__}")
            disconnected.invalidate_pool = True
            raise disconnected from error

    @event.listens_for(engine.sync_engine, "handle_error")
    def _drop_timed_out(context: ExceptionContext) -> None:
        if isinstance(context.original_exception, TimeoutError):
            context.is_disconnect = True
            connection = context.connection
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.connection.driver_connection.terminate()  # type: ignore[union-attr]


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
            gate=partial(_write_gate, url),
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


def _write_gate(url: str) -> WriteGate | None:
    """The write gate of a file database (store/write_gate.py); none for ``:memory:``, or
    where the gate's file cannot be made (SQLite's own wait still applies)."""
    file = database_file(url)
    if file is None:
        return None
    try:
        return WriteGate(rendezvous(file) / "write.lock")
    except OSError:
        log.warning("store.write_gate_unavailable", exc_info=True)
        return None


class Database:
    """The one way the rest of Renkei reaches the database."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        connect_timeout: float = 3.0,
        pool_timeout: float = 5.0,
        statement_timeout: float | None = 5.0,
    ) -> None:
        """The timeouts bound PostgreSQL's waits, in seconds: opening a connection,
        waiting for a pooled one, and each statement (None: unbounded)."""
        self.url = url
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
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
                pool_timeout=pool_timeout,
                json_serializer=_json_dumps,
                json_deserializer=_json_loads,
                connect_args={"timeout": connect_timeout, "command_timeout": statement_timeout},
            )
            ping = min(_MAX_PING_SECONDS, statement_timeout or _MAX_PING_SECONDS)
            _bound_waits(self.writer, ping_timeout=ping)
            self.reader = self.writer
        self._commit_hooks: list[tuple[str, Callable[[Any], None]]] = []
        self._checkout_deadline: float | None = None
        if not self.is_sqlite:
            ping = min(_MAX_PING_SECONDS, statement_timeout or _MAX_PING_SECONDS)
            # A second past the pool's own timeout, so that a full pool reports itself.
            self._checkout_deadline = max(connect_timeout + ping, pool_timeout + 1)
        # PostgreSQL only: SQLite's "database is locked" is contention, not an outage.
        self._breaker = None if self.is_sqlite else _Breaker(hold=_BREAKER_HOLD_SECONDS)

    def can_wait_out(self, error: BaseException) -> bool:
        """Whether waiting can fix ``error``: a database server that is away. SQLite is a
        local file; its errors are faults."""
        return not self.is_sqlite and is_outage(error)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def single_writer(self) -> bool:
        """One write transaction at a time, database-wide (SQLite): a second writer only
        queues behind the first, a write transaction needs no row locks, and rows commit in
        the order of their autoincremented keys."""
        return self.dialect == "sqlite"

    @property
    def partitioned_by_time(self) -> bool:
        """Events, deliveries and attempts are partitioned by week (PostgreSQL, migration
        0028; store/partitions.py): expiry drops partitions rather than deleting rows."""
        return self.dialect == "postgresql"

    def on_commit(self, flag: str, hook: Callable[[], None]) -> None:
        """Call ``hook`` after a write transaction commits that set ``connection.info[flag]``."""
        self._commit_hooks.append((flag, lambda _value: hook()))

    def after_commit(self, flag: str, hook: Callable[[Any], None]) -> None:
        """Call ``hook(connection.info[flag])`` after a write transaction commits that set
        it: what the transaction leaves for this process to do once it is durable."""
        self._commit_hooks.append((flag, hook))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        connection = await self._checkout(self.writer)
        try:
            async with connection.begin():
                try:
                    yield connection
                except BaseException:
                    # The connection may be gone (cut mid-transaction): its info with it.
                    with contextlib.suppress(Exception):
                        for flag, _ in self._commit_hooks:
                            connection.info.pop(flag, None)
                    raise
                raised = {
                    flag: value
                    for flag, _ in self._commit_hooks
                    if (value := connection.info.pop(flag, False))
                }
        except Exception as error:
            self._failed(error)
            raise
        finally:
            await self._close(connection)
        for flag, hook in self._commit_hooks:
            if flag in raised:
                hook(raised[flag])

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        connection = await self._checkout(self.reader)
        try:
            yield connection
        except Exception as error:
            self._failed(error)
            raise
        finally:
            await self._close(connection)

    async def _checkout(self, engine: AsyncEngine) -> AsyncConnection:
        """A connection from ``engine``'s pool; :class:`DatabaseUnavailable` if none could
        be had (connect or ping timed out or failed, or the pool stayed exhausted)."""
        probe = self._breaker.admit() if self._breaker is not None else False
        connection = engine.connect()
        try:
            if self._checkout_deadline is None:
                await connection.start()
            else:
                # The pool's wait, a ping and a reconnect are each bounded; this bounds
                # them together (a crowd of callers reconnecting at once included).
                async with asyncio.timeout(self._checkout_deadline):
                    await connection.start()
        except Exception as error:
            if self._breaker is not None:
                # A pool that stays full is load, not an outage: no reason to refuse others.
                busy = isinstance(error, PoolTimeout) or _saturated(engine)
                self._breaker.failed(probe, tripped=not busy)
            raise NoConnection(f"no connection: {type(error).__name__}", error) from error
        except BaseException:
            if self._breaker is not None:
                self._breaker.abandoned(probe)
            raise
        if self._breaker is not None:
            self._breaker.succeeded(probe)
        return connection

    def _failed(self, error: Exception) -> None:
        """Raise ``error`` as :class:`DatabaseUnavailable` when it means the database is
        unreachable; return for anything else (the caller's own exceptions, a refused row)."""
        if not is_unavailable(error):
            return
        # A statement that timed out does not trip the breaker: one slow query is not an
        # outage. If the database is gone, the next checkout's ping says so.
        if not isinstance(error, DatabaseUnavailable):
            raise DatabaseUnavailable(type(error).__name__, error) from error

    @staticmethod
    async def _close(connection: AsyncConnection) -> None:
        try:
            await connection.close()
        except Exception as error:
            # Returning a connection that died to the pool: it is discarded.
            log.warning("database.close_failed", error=type(error).__name__)

    @asynccontextmanager
    async def unbounded(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction without the statement timeout (migrations: an index build,
        or waiting for another process's migration lock, may take minutes)."""
        if self.is_sqlite or self.statement_timeout is None:
            async with self.transaction() as connection:
                yield connection
            return
        engine = create_async_engine(
            async_url(self.url),
            poolclass=NullPool,
            json_serializer=_json_dumps,
            json_deserializer=_json_loads,
            connect_args={"timeout": self.connect_timeout},
        )
        try:
            async with engine.begin() as connection:
                yield connection
        finally:
            await engine.dispose()

    async def ping(self, timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout), self.read() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
        if self.checkpointer is not None:
            await asyncio.to_thread(self.checkpointer.stop)


def _saturated(engine: AsyncEngine) -> bool:
    pool = engine.sync_engine.pool
    if not isinstance(pool, QueuePool):
        return False
    return pool.checkedout() >= pool.size() + max(pool._max_overflow, 0)


class _Breaker:
    """After the database stopped answering, callers fail at once for ``hold`` seconds;
    then one caller at a time tries again (a probe), the others still fail at once, until
    a connection is had. Bounds every caller's wait by about one connect timeout and keeps
    a crowd of callers from queueing on the pool while the database is gone."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.open_until: float | None = None
        self.probing = False

    def admit(self) -> bool:
        """True when this caller is the probe; raises while the breaker is open."""
        if self.open_until is None:
            return False
        if self.probing or time.monotonic() < self.open_until:
            raise NoConnection("the database did not answer moments ago")
        self.probing = True
        return True

    def succeeded(self, probe: bool) -> None:
        if probe:
            self.probing = False
        self.open_until = None

    def failed(self, probe: bool, *, tripped: bool) -> None:
        if probe:
            self.probing = False
        if tripped or probe:
            self.open_until = time.monotonic() + self.hold

    def abandoned(self, probe: bool) -> None:
        if probe:
            self.probing = False
