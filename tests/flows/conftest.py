from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from renkei.clock import ManualClock
from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.flows.engine import FlowEngine
from renkei.flows.service import create_flow
from renkei.hub import Hub
from renkei.ids import new_id
from tests.flows.receivers import Receiver, receiver
from tests.support.server import test_settings

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FlowBench:
    """A hub on a movable clock, with helpers to create flows, emit events and run jobs."""

    def __init__(self, hub: Hub, clock: ManualClock) -> None:
        self.hub = hub
        self.clock = clock
        self.emitted: list[str] = []

    @property
    def engine(self) -> FlowEngine:
        engine: FlowEngine = self.hub.flows
        return engine

    async def flow(self, spec: dict[str, Any]) -> str:
        spec = {"name": new_id("f"), **spec}
        async with self.hub.database.transaction() as tx:
            return (await create_flow(self.hub, tx, spec)).id

    async def emit(
        self, event_type: str = "track", name: str | None = None, **fields: Any
    ) -> Event:
        now = self.clock.now()
        event = Event(
            id=fields.pop("id", new_id("evt")),
            type=event_type,
            name=name,
            data=fields.pop("data", {}),
            occurred_at=now,
            received_at=now,
            source_id=fields.pop("source_id", "src_test"),
            **fields,
        )
        async with self.hub.database.transaction() as tx:
            await record_events(self.hub, tx, [event])
        self.emitted.append(event.id)
        return event

    async def run(self) -> int:
        """Run every due job until none is left (a delay's job waits for the clock)."""
        total = 0
        worker = self.hub.new_worker()
        while ran := await worker.run_burst():
            total += ran
        return total

    async def runs(self, flow_id: str) -> list[dict[str, Any]]:
        """Oldest first, in the order their events were emitted: a worker runs a claimed
        batch concurrently, so runs need not begin in event order."""
        from renkei.flows.service import list_runs

        async with self.hub.database.read() as connection:
            runs = list(reversed(await list_runs(connection, flow_id, limit=500)))
        position = {event_id: index for index, event_id in enumerate(self.emitted)}
        return sorted(runs, key=lambda run: position.get(run["event_id"], -1))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def bench(database_url: str, clock: ManualClock) -> AsyncIterator[FlowBench]:
    hub = Hub(test_settings(database_url, retry_schedule="10,60", retry_jitter=0), clock=clock)
    yield FlowBench(hub, clock)
    await hub.flows.close()
    await hub.webhooks.close()
    await hub.database.dispose()


@pytest.fixture
def target() -> Iterator[Receiver]:
    with receiver() as state:
        yield state
