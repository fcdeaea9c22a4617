"""Migration 0013 scrubs the header values that versions before 0.2.0 kept in the attempt log."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Connection, insert, select

from renkei.store import Database, migrate
from renkei.store.migrate import alembic_config
from renkei.store.tables.webhooks import delivery_attempts
from tests.support.rawscan import assert_not_stored

PARTNER_ID = "partner-7f3e9a1c"


def _downgrade_to_0012(connection: Connection) -> None:
    command.downgrade(alembic_config(connection), "0012")


async def test_old_attempts_lose_their_custom_header_values(database: Database) -> None:
    async with database.unbounded() as connection:
        await connection.run_sync(_downgrade_to_0012)
    async with database.transaction() as tx:
        await tx.execute(
            insert(delivery_attempts).values(
                delivery_id="dlv_1",
                endpoint_id="ep_1",
                event_id="evt_1",
                attempt=1,
                trigger="scheduled",
                started_at=datetime.now(UTC),
                url="https://crm.example.com/hooks",
                request_headers={
                    "webhook-id": "evt_1",
                    "content-type": "application/json",
                    "user-agent": "Renkei/0.1.0",
                    "x-partner-id": PARTNER_ID,
                },
                status_code=200,
                duration_ms=1.0,
                success=True,
            )
        )

    await migrate(database)

    await assert_not_stored(database, PARTNER_ID)
    async with database.read() as connection:
        headers = (await connection.execute(select(delivery_attempts.c.request_headers))).scalar()
    assert headers == {
        "webhook-id": "evt_1",
        "content-type": "application/json",
        "user-agent": "Renkei/0.1.0",
        "x-partner-id": "[redacted]",
    }
