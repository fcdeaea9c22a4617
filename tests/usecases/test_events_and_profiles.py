"""Event log and profile use cases: read scope, refusals (both backends)."""

from __future__ import annotations

import asyncio

import pytest

from renkei.errors import Forbidden, NotFound, RenkeiError
from renkei.security.tokens import Principal
from renkei.usecases import events, profiles, webhooks
from renkei.usecases.paging import encode_cursor
from tests.usecases.actors import READER, WRITER, local_hub

NOBODY = Principal("tok_nobody", "nobody", "none")  # type: ignore[arg-type]


async def test_reading_needs_the_read_scope(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        for refused in (
            events.list_events(hub, NOBODY),
            events.get_event(hub, NOBODY, "evt_1"),
            profiles.list_profiles(hub, NOBODY),
            profiles.get_profile(hub, NOBODY, "prf_1"),
        ):
            with pytest.raises(Forbidden):
                await refused


async def test_an_event_with_its_deliveries(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        endpoint = await webhooks.create_endpoint(
            hub, WRITER, {"name": "crm", "url": "https://example.com/hook"}
        )
        await webhooks.publish(hub, WRITER, event_type="order.paid", data={}, event_id="evt_1")
        listed = await events.list_events(hub, READER, types=["order.paid"])
        assert [event["id"] for event in listed] == ["evt_1"]
        detail = await events.get_event(hub, READER, "evt_1")
        assert detail.event["type"] == "order.paid"
        assert [row["endpoint_id"] for row in detail.deliveries] == [endpoint.id]
        assert detail.flow_runs == []


async def test_unknown_ids_and_bad_filters(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        for missing in (
            events.get_event(hub, READER, "evt_nope"),
            profiles.get_profile(hub, READER, "prf_nope"),
            profiles.list_profiles(hub, READER, kind="lead_id", value="1", connection="nope"),
        ):
            with pytest.raises(NotFound, match="does not exist"):
                await missing
        for refused, code in (
            (profiles.list_profiles(hub, READER, kind="lead_id"), "invalid_filter"),
            (profiles.list_profiles(hub, READER, connection="crm"), "invalid_filter"),
            (profiles.list_profiles(hub, READER, kind="Bad Kind", value="1"), "invalid_filter"),
            (profiles.get_profile(hub, READER, "prf_1", events=201), "invalid_limit"),
            (events.list_events(hub, READER, cursor=encode_cursor("seq")), "invalid_cursor"),
        ):
            with pytest.raises(RenkeiError) as error:
                await refused
            assert (error.value.status, error.value.code) == (400, code)


async def test_following_gives_the_last_events_then_new_ones(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        for number in (1, 2):
            await webhooks.publish(hub, WRITER, event_type="a", data={}, event_id=f"evt_{number}")
        backlog = events.follow_events(hub, READER, last=1, follow=False)
        assert [event["id"] async for event in backlog] == ["evt_2"]
        arriving = events.follow_events(hub, READER, types=["b"], interval=0.05)
        first = asyncio.create_task(anext(arriving))
        await asyncio.sleep(0.3)  # it has read where the log ends: what comes next is new
        await webhooks.publish(hub, WRITER, event_type="b", data={}, event_id="evt_3")
        assert (await asyncio.wait_for(first, 10))["id"] == "evt_3"
        await arriving.aclose()
        with pytest.raises(Forbidden):
            await anext(events.follow_events(hub, NOBODY))
