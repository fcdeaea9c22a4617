"""SQLite's query plan for a SQLAlchemy statement, for tests that an index is used."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

from renkei.store import Database


async def sqlite_plan(database: Database, statement: Any) -> list[str]:
    """The ``detail`` column of ``EXPLAIN QUERY PLAN`` (the parameters' values don't matter
    to it, only their places)."""
    compiled = statement.compile(
        dialect=sqlite_dialect(), compile_kwargs={"render_postcompile": True}
    )
    async with database.read() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        rows = await driver.execute_fetchall(
            f"EXPLAIN QUERY PLAN {compiled}", tuple(compiled.params.values())
        )
    return [str(row[3]) for row in rows]
