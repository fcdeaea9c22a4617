"""One configuration version for every catalog: an endpoint change and a flow change move
the same counter, and a process's catalogs hear of their own process's changes at commit."""

from __future__ import annotations

from renkei.delivery.endpoints import create_endpoint
from renkei.flows.service import create_flow
from renkei.store.config_version import read_version
from tests.flows.conftest import FlowBench, bench, clock  # noqa: F401


async def test_endpoint_and_flow_changes_move_one_counter(bench: FlowBench) -> None:  # noqa: F811
    hub = bench.hub
    async with hub.database.read() as connection:
        start = await read_version(connection)
    async with hub.database.transaction() as tx:
        await create_endpoint(
            tx,
            hub.keyring,
            {"name": "crm", "url": "http://127.0.0.1:9/hook", "event_types": ["track"]},
            now=bench.clock.now(),
            https_only=False,
        )
    async with hub.database.read() as connection:
        after_endpoint = await read_version(connection)
    async with hub.database.transaction() as tx:
        await create_flow(
            hub,
            tx,
            {
                "name": "f",
                "trigger": {"event_types": ["track"]},
                "steps": [{"id": "wait", "delay": "1m"}],
            },
        )
    async with hub.database.read() as connection:
        after_flow = await read_version(connection)
    assert start < after_endpoint < after_flow
