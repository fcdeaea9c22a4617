"""The suppression set ingest checks (events/suppressions.py): keyed hashes, emails in any
case, the profile's other identities covered, a lift seen at once; both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from renkei.events.envelope import Event
from renkei.events.suppressions import (
    SuppressionSet,
    add_suppression,
    identity_hash,
    lift_suppression,
)
from renkei.security.keyring import Keyring, generate_key
from renkei.store import Database
from renkei.store.tables.privacy import privacy_keys, suppressions

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _event(number: int, **identity: str) -> Event:
    return Event(
        id=f"evt-{number}",
        type="track",
        name="Order Completed",
        data={},
        occurred_at=NOW,
        received_at=NOW,
        source_id="src_test",
        **identity,
    )


async def test_suppressed_identities_are_dropped_until_lifted(database: Database) -> None:
    keyring = Keyring([generate_key()])
    checker = SuppressionSet(database, keyring)
    events = [
        _event(1, user_id="u-1"),
        _event(2, email="Ada@Example.com"),  # any case
        _event(3, anonymous_id="a-9"),  # covered through the profile
        _event(4, user_id="u-2", email="someone@example.com"),
    ]
    async with database.transaction() as tx:
        assert await checker.drop(tx, events) == events  # nothing suppressed: nothing read
        found, created = await add_suppression(
            tx, keyring, NOW, kind="email", value="ada@example.com", also=[("anonymous_id", "a-9")]
        )
        again, created_again = await add_suppression(
            tx, keyring, NOW, kind="email", value=" ADA@example.com ", also=[]
        )
    assert created and not created_again and again.id == found.id
    assert found.covers == 1
    async with database.transaction() as tx:
        kept = await checker.drop(tx, events)
    assert [e.id for e in kept] == ["evt-1", "evt-4"]

    async with database.read() as connection:
        rows = list(await connection.execute(select(suppressions)))
        sealed = (await connection.execute(select(privacy_keys.c.hmac_key))).scalar()
    assert "example.com" not in repr(rows) and "a-9" not in repr(rows)
    key = bytes.fromhex(keyring.decrypt(sealed, context="privacy_keys.hmac_key"))
    assert rows[0].value_hash == identity_hash(key, "email", "ada@example.com")
    assert rows[0].value_hash != identity_hash(b"another key", "email", "ada@example.com")

    async with database.transaction() as tx:
        await lift_suppression(tx, found.id)
    async with database.transaction() as tx:
        assert await checker.drop(tx, events) == events  # the lift invalidated the set
