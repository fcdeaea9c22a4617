"""Read-only connections to a database that is not Renkei's own (the ``sql`` connector).

A user's PostgreSQL, MySQL/MariaDB or SQLite database is read through SQLAlchemy's async
drivers (asyncpg, aiomysql, aiosqlite), each connection opened read-only the way its server
allows, so that even a statement that slipped past :func:`single_select` cannot write:

- PostgreSQL: ``default_transaction_read_only = on`` as a startup setting, and the query in a
  ``BEGIN READ ONLY`` transaction;
- MySQL/MariaDB: ``SET SESSION TRANSACTION READ ONLY`` when connecting, and the query in a
  ``START TRANSACTION READ ONLY``;
- SQLite: the file opened with ``mode=ro`` (a missing file is an error, never created) and
  ``PRAGMA query_only = ON``.

The database user should be read-only as well: these are belts, that is the braces.

Errors come out as :class:`ExternalDatabaseError` with a ``kind`` (``invalid_url``,
``unreachable``, ``refused``, ``query``) and a message that never holds the URL's password.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

__all__ = [
    "ExternalDatabaseError",
    "ExternalURL",
    "parse_external_url",
    "probe",
    "read_rows",
    "single_select",
]

ErrorKind = Literal["invalid_url", "unreachable", "refused", "query"]

_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "sqlite": "sqlite+aiosqlite",
}
URL_HINT = (
    "use postgresql://user:password@host:5432/db, mysql://user:password@host:3306/db "
    "(MariaDB too) or sqlite:////absolute/path/file.db"
)
# Words that have no place in a read: writes, DDL, SELECT ... INTO, row locks, attaching.
_WRITES = re.compile(
    r"\b(insert|update|delete|merge|upsert|drop|alter|create|truncate|grant|revoke|copy|"
    r"call|exec|execute|attach|detach|pragma|vacuum|reindex|into|lock|set|commit|"
    r"rollback|begin|savepoint|prepare)\b",
    re.IGNORECASE,
)
_STRINGS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`", re.DOTALL)
_COMMENTS = re.compile(r"--[^\n]*|#[^\n]*|/\*.*?\*/", re.DOTALL)


class ExternalDatabaseError(Exception):
    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class ExternalURL:
    """A parsed database URL: the backend's family and the async driver URL."""

    backend: Literal["postgresql", "mysql", "sqlite"]
    url: URL

    @property
    def password(self) -> str | None:
        return self.url.password if isinstance(self.url.password, str) else None


def parse_external_url(raw: str) -> ExternalURL:
    """The async, read-only URL for ``raw``; raises ``invalid_url`` naming what is wrong
    (never the URL itself, which may hold a password)."""
    try:
        url = make_url(raw.strip())
    except (ArgumentError, ValueError):
        raise ExternalDatabaseError(
            "invalid_url", f"the database url is not a URL; {URL_HINT}"
        ) from None
    scheme = url.drivername.partition("+")[0]
    driver = _DRIVERS.get(scheme)
    if driver is None:
        raise ExternalDatabaseError(
            "invalid_url", f"unsupported database scheme {scheme!r}; {URL_HINT}"
        )
    if driver.startswith("sqlite"):
        path = url.database or ""
        if path in ("", ":memory:") or path.startswith("file:"):
            raise ExternalDatabaseError(
                "invalid_url", f"a sqlite url needs the path of an existing file; {URL_HINT}"
            )
        # mode=ro: SQLite opens the file read-only and never creates it.
        ro = URL.create(driver, database=f"file:{path}", query={"mode": "ro", "uri": "true"})
        return ExternalURL("sqlite", ro)
    if not url.host or not url.database:
        raise ExternalDatabaseError(
            "invalid_url", f"the database url needs a host and a database name; {URL_HINT}"
        )
    backend: Literal["postgresql", "mysql"] = (
        "postgresql" if driver.startswith("postgresql") else "mysql"
    )
    return ExternalURL(backend, url.set(drivername=driver))


def single_select(query: str) -> str:
    """``query`` without a trailing ``;`` if it is one SELECT (or WITH ... SELECT) that
    names no writing keyword outside its string literals; raises ``refused`` otherwise."""
    body = query.strip().rstrip(";").strip()
    bare = _COMMENTS.sub(" ", _STRINGS.sub("''", body))
    if not bare.strip():
        raise ExternalDatabaseError("refused", "the query is empty")
    if ";" in bare:
        raise ExternalDatabaseError("refused", "the query must be a single statement")
    first = bare.split(None, 1)[0].lower()
    if first not in ("select", "with"):
        raise ExternalDatabaseError(
            "refused", f"only SELECT (or WITH ... SELECT) is run, not {first.upper()}"
        )
    word = _WRITES.search(bare)
    if word is not None:
        raise ExternalDatabaseError(
            "refused", f"the query may only read: {word.group(0).upper()} is not allowed"
        )
    return body


def _connect_args(target: ExternalURL, timeout: float) -> dict[str, Any]:
    if target.backend == "postgresql":
        return {
            "server_settings": {"default_transaction_read_only": "on"},
            "timeout": timeout,
            "command_timeout": timeout,
        }
    if target.backend == "mysql":
        return {"init_command": "SET SESSION TRANSACTION READ ONLY", "connect_timeout": timeout}
    return {"timeout": timeout}


def _scrub(message: str, target: ExternalURL) -> str:
    password = target.password
    message = message.split("\n[SQL:", 1)[0].split("\n(Background", 1)[0]
    if password:
        message = message.replace(password, "***")
    return message.strip()[:500]


@asynccontextmanager
async def _read_only(target: ExternalURL, timeout: float) -> AsyncIterator[AsyncConnection]:
    """A connection inside a read-only transaction, rolled back when done."""
    engine = create_async_engine(
        target.url,
        poolclass=NullPool,
        connect_args=_connect_args(target, timeout),
        isolation_level="AUTOCOMMIT",  # the transaction is begun by hand, read-only
    )
    try:
        try:
            async with asyncio.timeout(timeout):
                connection = await engine.connect()
        except (TimeoutError, OSError, DBAPIError, NoSuchModuleError) as exc:
            raise _unreachable(exc, target) from None
        try:
            begin = {
                "postgresql": "BEGIN READ ONLY",
                "mysql": "START TRANSACTION READ ONLY",
                "sqlite": "PRAGMA query_only = ON",
            }[target.backend]
            await connection.execute(text(begin))
            try:
                yield connection
            finally:
                if target.backend != "sqlite":
                    await connection.execute(text("ROLLBACK"))
        finally:
            await connection.close()
    finally:
        await engine.dispose()


def _unreachable(exc: BaseException, target: ExternalURL) -> ExternalDatabaseError:
    if isinstance(exc, TimeoutError):
        return ExternalDatabaseError("unreachable", "the database did not answer in time")
    detail = _scrub(str(getattr(exc, "orig", None) or exc), target)
    return ExternalDatabaseError(
        "unreachable", f"cannot connect to the {target.backend} database: {detail}"
    )


async def probe(target: ExternalURL, *, timeout: float = 10.0) -> dict[str, Any]:
    """Connect read-only and run ``SELECT 1``: what "Test connection" reports."""
    async with _read_only(target, timeout) as connection:
        try:
            async with asyncio.timeout(timeout):
                await connection.execute(text("SELECT 1"))
        except (TimeoutError, SQLAlchemyError) as exc:
            raise _unreachable(exc, target) from None
    return {"backend": target.backend, "read_only": True}


async def read_rows(
    target: ExternalURL,
    query: str,
    *,
    cursor_column: str,
    id_column: str,
    after: tuple[Any, Any] | None,
    limit: int,
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """Up to ``limit`` rows of ``query`` after the position ``after`` = (cursor, id), in
    (cursor, id) order: keyset paging, so rows sharing a cursor value are never skipped at a
    page boundary. Rows whose cursor is NULL never come out."""
    body = single_select(query)
    quote = _quoter(target)
    cursor, row_id = f"q.{quote(cursor_column)}", f"q.{quote(id_column)}"
    where = f"WHERE {cursor} IS NOT NULL"
    params: dict[str, Any] = {"renkei_limit": int(limit)}
    if after is not None:
        where += (
            f" AND ({cursor} > :renkei_cursor"
            f" OR ({cursor} = :renkei_cursor AND {row_id} > :renkei_id))"
        )
        params |= {"renkei_cursor": after[0], "renkei_id": after[1]}
    statement = text(
        f"SELECT * FROM ({body}) AS q {where} ORDER BY {cursor}, {row_id} LIMIT :renkei_limit"  # noqa: S608 (a checked SELECT, columns quoted)
    )
    async with _read_only(target, timeout) as connection:
        try:
            async with asyncio.timeout(timeout):
                result = await connection.execute(statement, params)
                return [dict(row) for row in result.mappings()]
        except TimeoutError:
            raise ExternalDatabaseError("query", "the query did not finish in time") from None
        except SQLAlchemyError as exc:
            detail = _scrub(str(getattr(exc, "orig", None) or exc), target)
            raise ExternalDatabaseError("query", f"the query failed: {detail}") from None


def _quoter(target: ExternalURL) -> Any:
    quote_char = "`" if target.backend == "mysql" else '"'

    def quote(name: str) -> str:
        if not name or quote_char in name:
            raise ExternalDatabaseError("refused", f"invalid column name {name!r}")
        return f"{quote_char}{name}{quote_char}"

    return quote
