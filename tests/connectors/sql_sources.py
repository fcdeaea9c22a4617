"""Source databases for the ``sql`` connector's tests: a database of its own on the local
PostgreSQL and MariaDB servers (created, then dropped: unique names, safe under xdist), or a
SQLite file. ``run`` writes to it with a writable connection of the test's own."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.support.postgres import suite_host_port

SOURCES = ("postgresql", "mariadb", "sqlite")
_MARIADB_ADMIN = "mysql+aiomysql://root:@127.0.0.1:3306/test"


def _admin_url(kind: str) -> str:
    if kind == "postgresql":
        return f"postgresql+asyncpg://postgres@{suite_host_port()}/postgres"
    return _MARIADB_ADMIN


@dataclass
class Source:
    kind: str
    url: str
    """What a connection is given (no driver named: the connector picks it)."""
    writer_url: str

    async def run(self, *statements: str, params: Sequence[dict[str, Any]] = ()) -> None:
        engine = create_async_engine(self.writer_url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                for statement in statements:
                    if params:
                        await connection.execute(text(statement), list(params))
                    else:
                        await connection.execute(text(statement))
        finally:
            await engine.dispose()

    async def scalar(self, statement: str) -> Any:
        engine = create_async_engine(self.writer_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return (await connection.execute(text(statement))).scalar()
        finally:
            await engine.dispose()


async def _admin(kind: str, statement: str) -> None:
    engine = create_async_engine(_admin_url(kind), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def source_database(kind: str, tmp_path: Path) -> AsyncIterator[Source]:
    if kind == "sqlite":
        path = tmp_path / "source.db"
        sqlite3.connect(path).close()
        yield Source(kind, f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}")
        return
    name = f"renkei_src_{uuid4().hex[:12]}"
    await _admin(kind, f"CREATE DATABASE {name}")
    try:
        if kind == "postgresql":
            yield Source(
                kind,
                f"postgresql://postgres@{suite_host_port()}/{name}",
                f"postgresql+asyncpg://postgres@{suite_host_port()}/{name}",
            )
        else:
            yield Source(
                kind,
                f"mysql://root:@127.0.0.1:3306/{name}",
                f"mysql+aiomysql://root:@127.0.0.1:3306/{name}",
            )
    finally:
        if kind == "postgresql":
            await _admin(kind, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            await _admin(kind, f"DROP DATABASE IF EXISTS {name}")
