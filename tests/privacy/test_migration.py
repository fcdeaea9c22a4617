"""The hand-written 0023 migration creates what store/tables/privacy.py describes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect

from renkei.store import Database
from renkei.store.tables.privacy import privacy_keys, privacy_requests, suppressions

TABLES = (privacy_keys, suppressions, privacy_requests)


async def test_privacy_tables_match_the_metadata(database: Database) -> None:
    def reflect(sync: Any) -> dict[str, Any]:
        inspector = inspect(sync)
        return {
            table.name: (
                {column["name"] for column in inspector.get_columns(table.name)},
                {index["name"] for index in inspector.get_indexes(table.name)},
            )
            for table in TABLES
        }

    async with database.read() as connection:
        found = await connection.run_sync(reflect)
    for table in TABLES:
        columns, indexes = found[table.name]
        assert columns == {column.name for column in table.columns}
        assert indexes == {index.name for index in table.indexes}
