"""The hand-written 0003 migration creates what store/tables/ingest.py describes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect

from renkei.store import Database
from renkei.store.tables.ingest import identities, profiles, sources, webhook_requests


async def test_ingest_tables_match_the_metadata(database: Database) -> None:
    def reflect(sync: Any) -> dict[str, Any]:
        inspector = inspect(sync)
        return {
            "tables": {
                table.name: {column["name"] for column in inspector.get_columns(table.name)}
                for table in (sources, webhook_requests, profiles, identities)
            },
            "event_indexes": {index["name"] for index in inspector.get_indexes("events")},
            "identity_key": inspector.get_pk_constraint("identities")["constrained_columns"],
        }

    async with database.read() as connection:
        found = await connection.run_sync(reflect)
    for table in (sources, webhook_requests, profiles, identities):
        assert found["tables"][table.name] == {column.name for column in table.columns}
    assert {"ix_events_anonymous_only", "ix_events_email_only"} <= found["event_indexes"]
    assert found["identity_key"] == ["kind", "value"]
