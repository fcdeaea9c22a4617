"""Read every row of every table as text, to prove a secret is not stored in plaintext."""

from __future__ import annotations

from sqlalchemy import inspect, text

from renkei.store import Database


async def dump_all_rows(database: Database) -> str:
    async with database.read() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        chunks = []
        for table in tables:
            rows = await connection.execute(text(f'SELECT * FROM "{table}"'))
            chunks.extend(repr(tuple(row)) for row in rows)
    return "\n".join(chunks)


async def assert_not_stored(database: Database, *secrets: str) -> None:
    dump = await dump_all_rows(database)
    for secret in secrets:
        assert secret not in dump, "a secret is stored in plaintext"
