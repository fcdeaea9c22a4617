"""Storing events: which ones are new when a group repeats ids (the dedupe guarantee)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from renkei.events.envelope import Event
from renkei.events.log import admit_events, record_events, write_admitted
from renkei.hub import Hub
from renkei.store.event_writes import event_writes
from tests.support.server import test_settings as settings_for

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _event(event_id: str, name: str = "E") -> Event:
    return Event(
        id=event_id,
        type="track",
        name=name,
        data={"event": name, "messageId": event_id},
        occurred_at=NOW,
        received_at=NOW,
        source_id="src_test",
        user_id="u1",
    )


async def test_only_new_events_are_returned_and_fanned_out(database_url: str) -> None:
    hub = Hub(settings_for(database_url))
    fanned_out: list[str] = []

    async def remember(_: object, events: list[Event]) -> None:
        fanned_out.extend(event.id for event in events)

    hub.fanout = [remember]
    try:
        async with hub.database.transaction() as tx:
            first = await record_events(hub, tx, [_event("m-1"), _event("m-2")])
        async with hub.database.transaction() as tx:
            # old, new, a second copy of the new one (its name tells the copies apart), new
            second = await record_events(
                hub,
                tx,
                [_event("m-2"), _event("m-3"), _event("m-3", "copy"), _event("m-4")],
            )
        async with hub.database.transaction() as tx:
            third = await record_events(hub, tx, [_event("m-1"), _event("m-4")])
        async with hub.database.read() as connection:
            rows = list(await connection.execute(text("SELECT id, name FROM events ORDER BY seq")))
    finally:
        await hub.database.dispose()
    assert [event.id for event in first] == ["m-1", "m-2"]
    assert [(event.id, event.name) for event in second] == [("m-3", "E"), ("m-4", "E")]
    assert third == []
    assert fanned_out == ["m-1", "m-2", "m-3", "m-4"]
    assert [tuple(row) for row in rows] == [
        ("m-1", "E"),
        ("m-2", "E"),
        ("m-3", "E"),
        ("m-4", "E"),
    ]


async def test_a_big_group_is_looked_up_then_inserted_with_the_commit(database_url: str) -> None:
    """From 64 events a group takes the other path: a lookup finds the new ones, and the
    insert waits until the end of the transaction (with the commit, on SQLite)."""
    hub = Hub(settings_for(database_url))
    fanned_out: list[str] = []

    async def remember(_: object, events: list[Event]) -> None:
        fanned_out.extend(event.id for event in events)

    hub.fanout = [remember]
    old = [_event(f"old-{n}") for n in range(3)]
    new = [_event(f"new-{n:03}") for n in range(100)]
    group = [*old, *new[:50], _event("new-000", "copy"), *new[50:]]
    prepared = {"new-001": event_writes(hub.database).row(_event("new-001", "made earlier"))}
    try:
        async with hub.database.transaction() as tx:
            await record_events(hub, tx, old)
        async with hub.database.transaction() as tx:
            admitted = await admit_events(hub, tx, group, rows=prepared)
            assert fanned_out[3:] == [event.id for event in new]  # fanned out before written
            await write_admitted(tx, admitted, and_commit=True)
        async with hub.database.read() as connection:
            rows = list(await connection.execute(text("SELECT id, name FROM events ORDER BY seq")))
    finally:
        await hub.database.dispose()
    assert [event.id for event in admitted.events] == [event.id for event in new]
    assert admitted.events[0].name == "E"  # the first copy of an id wins
    expected = [(event.id, event.name) for event in [*old, *new]]
    if hub.database.is_sqlite:  # rows made earlier are the ones stored
        expected[4] = ("new-001", "made earlier")
    assert [tuple(row) for row in rows] == expected


async def test_a_failed_transaction_keeps_none_of_a_big_group(database_url: str) -> None:
    hub = Hub(settings_for(database_url))
    events = [_event(f"m-{n:03}") for n in range(80)]
    try:
        with pytest.raises(RuntimeError):
            async with hub.database.transaction() as tx:
                admitted = await admit_events(hub, tx, events)
                raise RuntimeError("a later step of the transaction failed")
        async with hub.database.transaction() as tx:
            await write_admitted(tx, await admit_events(hub, tx, events[:70]))
        async with hub.database.read() as connection:
            count = (await connection.execute(text("SELECT count(*) FROM events"))).scalar()
    finally:
        await hub.database.dispose()
    assert admitted.events == events
    assert count == 70
