"""store.errors.sqlstate: the one reading of a database error's SQLSTATE, on real errors
from both backends (SQLite has none: every caller must cope with None)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from renkei.store import Database
from renkei.store.errors import DatabaseUnavailable, sqlstate
from renkei.store.tables.connectors import connector_quota_days as days

ROW = {
    "limiter": "vendor",
    "resets_at": datetime(2026, 12, 8, tzinfo=UTC),
    "quota": 10,
    "used": 1,
    "updated_at": datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
}


async def test_a_unique_violation(database: Database, backend: str) -> None:
    async with database.transaction() as tx:
        await tx.execute(insert(days).values(ROW))
    with pytest.raises(IntegrityError) as refused:
        async with database.transaction() as tx:
            await tx.execute(insert(days).values(ROW))
    assert sqlstate(refused.value) == ("23505" if backend == "postgresql" else None)


async def test_a_statement_timeout(database: Database, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no statement timeout")
    with pytest.raises(DBAPIError) as cancelled:
        async with database.transaction() as tx:
            await tx.execute(text("SET LOCAL statement_timeout = 10"))
            await tx.execute(text("SELECT pg_sleep(5)"))
    assert sqlstate(cancelled.value) == "57014"  # query_canceled


async def test_a_connection_ended_by_the_server(database: Database, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no server to end a connection")
    with pytest.raises(DatabaseUnavailable) as ended:
        async with database.transaction() as tx:
            await tx.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    # Two wrappings deep (DatabaseUnavailable → SQLAlchemy's error → asyncpg's adapter).
    assert sqlstate(ended.value) == "08003"  # connection_does_not_exist


def test_no_database_error_has_none() -> None:
    assert sqlstate(TimeoutError()) is None
    assert sqlstate(ValueError("23505")) is None
