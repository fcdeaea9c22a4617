"""Storing events: which ones are new when a group repeats ids (the dedupe guarantee)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.hub import Hub
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
