"""Every filter reads the same event document: an endpoint filter sees ``occurred_at`` and
``received_at`` as a flow filter does (it saw neither before)."""

from __future__ import annotations

import pytest

from renkei.delivery.endpoints import create_endpoint
from renkei.events.envelope import format_timestamp
from tests.flows.conftest import FlowBench, bench, clock, target  # noqa: F401
from tests.flows.receivers import Receiver

pytestmark = pytest.mark.timeout(60)


async def test_an_endpoint_filter_reads_occurred_at(bench: FlowBench, target: Receiver) -> None:  # noqa: F811
    first = format_timestamp(bench.clock.now())
    async with bench.hub.database.transaction() as tx:
        await create_endpoint(
            tx,
            bench.hub.keyring,
            {
                "name": "first-minute",
                "url": target.url + "/hook",
                "event_types": ["track"],
                "filter": {"occurred_at": first},
            },
            now=bench.clock.now(),
            https_only=False,
        )
    await bench.emit(name="Signed Up", data={"n": 1})
    bench.clock.advance(minutes=1)
    await bench.emit(name="Signed Up", data={"n": 2})
    await bench.run()
    assert [r.json()["data"] for r in target.to("/hook")] == [{"n": 1}]
