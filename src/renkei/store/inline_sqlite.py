"""SQLite's write connection, run on the event loop's own thread.

aiosqlite runs every call in a thread of its own: each statement is a queue put, a thread
wake-up, a GIL hand-over and a turn of the event loop to deliver the result. A write
transaction on SQLite is a handful of statements that each take microseconds, so those
hops, not SQLite, were the cost of every write (ingest's group commits, job claims,
delivery results). This module gives SQLAlchemy's aiosqlite dialect a connection with the
same interface whose calls run inline instead.

What makes blocking the loop acceptable is the write lock: ``BEGIN IMMEDIATE`` is the one
statement that can wait on another process (a ``renkei worker`` holding the lock), and it
is retried here with ``asyncio.sleep`` between tries instead of SQLite's busy handler.
Once a transaction holds the lock, WAL mode lets its statements run without waiting on
anyone. Reads that may be long keep the threaded reader engine (``store/database.py``).
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from renkei.backoff import Backoff
from renkei.store.write_gate import WriteGate

__all__ = ["InlineConnection", "connect"]


# Inside a held write transaction SQLite should never need to wait; this only bounds how
# long the loop can stall if it does (a WAL recovery after a crashed process, say).
_STATEMENT_BUSY_MS = 200
# Waiting for another process's write lock: 0.5 ms doubling to 20 ms, ±50 %, until the
# busy timeout (a deadline, not a number of tries).
_LOCK_BACKOFF = Backoff(attempts=sys.maxsize, base=0.0005, cap=0.02, jitter=0.5, max_wait=math.inf)


_offload: ThreadPoolExecutor | None = None
_offload_pid = 0


def _offload_thread() -> ThreadPoolExecutor:
    """The helper thread of this process: one inherited across ``fork`` has no thread
    behind it in the child, and work handed to it would wait for ever."""
    global _offload, _offload_pid
    if _offload is None or _offload_pid != os.getpid():
        _offload = ThreadPoolExecutor(max_workers=1, thread_name_prefix="renkei-sqlite")
        _offload_pid = os.getpid()
    return _offload


class InlineCursor:
    """aiosqlite's ``Cursor`` interface over a ``sqlite3.Cursor``, without the thread."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        self._cursor.execute(sql, () if parameters is None else parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *_: Any) -> None:
        return None


class InlineConnection:
    """aiosqlite's ``Connection`` interface over a ``sqlite3.Connection`` in autocommit
    mode: transactions are whatever ``BEGIN ...`` the caller sends."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        busy_timeout: float,
        gate: WriteGate | None = None,
    ) -> None:
        self._conn = connection
        self._busy_timeout = busy_timeout
        self._gate = gate  # held from BEGIN to COMMIT/ROLLBACK (store/write_gate.py)
        self._heavy = False  # an offloaded statement ran: its commit has many pages to write

    @property
    def _connection(self) -> sqlite3.Connection | None:
        # SQLAlchemy's adapter checks this before commit and rollback, as with aiosqlite.
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        if sql.startswith("BEGIN"):
            await self._begin(sql)
            return self.cursor()
        cursor = self.cursor()
        return await cursor.execute(sql, parameters)

    async def execute_fetchall(
        self, sql: str, parameters: Sequence[Any] | None = None
    ) -> list[Any]:
        cursor = self._conn.execute(sql, () if parameters is None else parameters)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def executemany_now(self, sql: str, parameters: Sequence[Sequence[Any]]) -> None:
        """``executemany`` inline, without the cursor wrapper (store/direct.py)."""
        self._conn.executemany(sql, parameters).close()

    def insert(self, sql: str, parameters: Sequence[Any]) -> tuple[int, int]:
        """Run an insert inline; returns how many rows it inserted and the last rowid."""
        cursor = self._conn.execute(sql, parameters)
        try:
            return cursor.rowcount, cursor.lastrowid or 0
        finally:
            cursor.close()

    async def execute_many_then(
        self, statements: Sequence[tuple[str, Sequence[Any]]], *, commit: bool
    ) -> None:
        """Run ``statements`` (many-row inserts), then ``COMMIT`` if asked, on a helper
        thread: SQLite's own work is then done beside the event loop, as the sqlite3 module
        lets go of the GIL while SQLite works, and the whole end of a transaction is one hop.
        The connection is still used by one caller at a time (the pool hands it out to one
        transaction). After a commit here, the caller's own commit finds no transaction and
        does nothing; without one, that commit runs on the helper thread too."""
        self._heavy = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(_offload_thread(), self._execute_many_then, statements, commit)

    def _execute_many_then(
        self, statements: Sequence[tuple[str, Sequence[Any]]], commit: bool
    ) -> None:
        for sql, parameters in statements:
            self._conn.execute(sql, parameters).close()
        if commit:
            self._conn.execute("COMMIT")

    async def _begin(self, sql: str) -> None:
        """``BEGIN``, waiting for another process's write lock without blocking the loop."""
        if self._gate is not None:
            await self._gate.enter()
        try:
            await self._begin_unguarded(sql)
        except BaseException:
            if self._gate is not None:
                self._gate.leave()
            raise

    async def _begin_unguarded(self, sql: str) -> None:
        deadline = time.monotonic() + self._busy_timeout
        failures = 0
        while True:
            try:
                self._conn.execute(sql)
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
            failures += 1
            await asyncio.sleep(_LOCK_BACKOFF.delay(failures) or 0.0)

    async def commit(self) -> None:
        await self._end("COMMIT")

    async def rollback(self) -> None:
        await self._end("ROLLBACK")

    async def _end(self, sql: str) -> None:
        try:
            await self._end_transaction(sql)
        finally:
            if self._gate is not None:
                self._gate.leave()

    async def _end_transaction(self, sql: str) -> None:
        heavy, self._heavy = self._heavy, False
        if not self._conn.in_transaction:
            return  # committed already (execute_many_then)
        if heavy:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(_offload_thread(), self._conn.execute, sql)
        else:
            self._conn.execute(sql)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        self._conn.close()
        if self._gate is not None:
            self._gate.close()


def connect(
    path: str,
    *,
    busy_timeout: float,
    pragmas: Sequence[str],
    on_open: Callable[[], None] | None = None,
    gate: Callable[[], WriteGate | None] | None = None,
) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine``: opens ``path`` inline, then calls
    ``on_open``; ``gate`` opens the connection's write gate, if any (in the process that
    uses the connection)."""

    async def creator() -> InlineConnection:
        connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        for pragma in pragmas:
            connection.execute(pragma)
        connection.execute(f"PRAGMA busy_timeout={_STATEMENT_BUSY_MS}")
        if on_open is not None:
            on_open()
        return InlineConnection(
            connection, busy_timeout=busy_timeout, gate=None if gate is None else gate()
        )

    return creator
