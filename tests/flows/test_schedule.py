"""Scheduled flows are the queue's periodic schedules (``flow:<id>``): a flow saved on one
process ticks on every process's scheduler, once per tick; disabled it skips its ticks,
deleted it has none; its run's event says which period the tick closes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from renkei.events.envelope import format_timestamp
from renkei.flows.schedule import schedule_name
from renkei.flows.service import delete_flow, set_enabled, update_flow
from renkei.queue import JobQueue
from renkei.store import Database
from tests.flows.conftest import FlowBench
from tests.flows.receivers import Receiver

HOURLY = {"schedule": {"every": "1h"}}


def _post(url: str) -> dict[str, object]:
    return {"id": "post", "action": {"url": url, "body": {"period": "{{ data.period_start }}"}}}


async def test_a_flow_saved_here_ticks_once_on_the_other_processes(
    bench: FlowBench, target: Receiver
) -> None:
    start = bench.clock.now()
    flow_id = await bench.flow({"trigger": HOURLY, "steps": [_post(target.url + "/tick")]})
    others = [Database(bench.hub.database.url) for _ in range(2)]
    try:
        queues = [
            JobQueue(db, bench.hub.registry, retry=bench.hub.queue.retry, clock=bench.clock)
            for db in others
        ]
        bench.clock.advance(hours=1)
        enqueued = await asyncio.gather(*(q.run_due_schedules() for q in queues))
        assert sum(count for count, _ in enqueued) == 1
    finally:
        for db in others:
            await db.dispose()
    await bench.run()
    [request] = target.to("/tick")
    assert request.json() == {"period": format_timestamp(start)}
    [run] = await bench.runs(flow_id)
    assert run["event_id"].startswith(f"schedule:{flow_id}:")


async def test_a_disabled_flow_skips_its_ticks_and_a_deleted_one_has_none(
    bench: FlowBench, target: Receiver
) -> None:
    flow_id = await bench.flow({"trigger": HOURLY, "steps": [_post(target.url + "/tick")]})
    async with bench.hub.database.transaction() as tx:
        await set_enabled(bench.hub, tx, flow_id, False)
    bench.clock.advance(hours=1)
    assert (await bench.hub.queue.run_due_schedules())[0] == 1
    await bench.run()
    assert target.to("/tick") == [] and await bench.runs(flow_id) == []

    async with bench.hub.database.transaction() as tx:
        await delete_flow(bench.hub, tx, flow_id)
        assert await bench.hub.queue.next_run(tx, schedule_name(flow_id)) is None


async def test_a_flow_without_a_schedule_any_more_drops_it(bench: FlowBench) -> None:
    flow_id = await bench.flow({"trigger": HOURLY, "steps": [{"id": "wait", "delay": "1m"}]})
    async with bench.hub.database.transaction() as tx:
        first = await bench.hub.queue.next_run(tx, schedule_name(flow_id))
        assert first == bench.clock.now() + timedelta(hours=1)
        await update_flow(bench.hub, tx, flow_id, {"trigger": {"event_types": ["track"]}})
        assert await bench.hub.queue.next_run(tx, schedule_name(flow_id)) is None
