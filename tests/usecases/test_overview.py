"""``usecases.overview`` on both backends, on a ManualClock: what the overview counts and
the hour each delivery falls in (the CASE that picks the hour must group the same on
PostgreSQL as on SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from renkei.clock import ManualClock
from renkei.errors import Forbidden
from renkei.hub import Hub
from renkei.security.tokens import Principal
from renkei.usecases import LOCAL
from renkei.usecases import webhooks as cases
from renkei.usecases.overview import deliveries_by_hour, overview
from tests.support.server import test_settings

START = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[Hub]:
    hub = Hub(test_settings(database_url), clock=ManualClock(START))
    await hub.start(with_worker=False)
    yield hub
    await hub.stop()


async def publish(hub: Hub, count: int) -> None:
    for number in range(count):
        await cases.publish(hub, LOCAL, event_type="receipt.validated", data={"n": number})


async def test_deliveries_fall_in_their_hour(hub: Hub) -> None:
    assert isinstance(hub.clock, ManualClock)
    await cases.create_event_type(hub, LOCAL, name="receipt.validated")
    endpoint = await cases.create_endpoint(
        hub, LOCAL, {"name": "CRM", "url": "https://crm.example.com/hook"}
    )
    hub.clock.set(START - timedelta(hours=30))  # outside the window
    await publish(hub, 1)
    hub.clock.set(START - timedelta(hours=3))  # 06:30, three hours before 09:30
    await publish(hub, 2)
    hub.clock.set(START)
    await publish(hub, 1)

    hours = await deliveries_by_hour(hub, LOCAL, endpoint_id=endpoint.id)
    assert len(hours) == 24
    assert hours[-1].start == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert [(hour.start.hour, hour.counts) for hour in hours if hour.total] == [
        (6, {"pending": 2}),
        (9, {"pending": 1}),
    ]
    assert sum(hour.total for hour in await deliveries_by_hour(hub, LOCAL, endpoint_id="ep_x")) == 0

    summary = await overview(hub, LOCAL)
    assert summary.events_received == 3
    assert summary.deliveries["pending"] == 3


async def test_the_overview_needs_a_token_that_may_read(hub: Hub) -> None:
    reader = Principal("tok_r", "reader", "read")
    await overview(hub, reader)
    await deliveries_by_hour(hub, reader)
    with pytest.raises(Forbidden):
        await overview(hub, Principal("tok_x", "nobody", "none"))  # type: ignore[arg-type]
