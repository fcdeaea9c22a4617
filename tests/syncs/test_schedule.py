"""A sync's ``every_seconds``/``cron`` trigger is one of the queue's periodic schedules
(``sync:<id>``): each tick queues one run (``trigger: schedule``) however many schedulers
race, ``next_run_at`` shows the next tick, a disabled sync skips its ticks, and a deleted
or unscheduled sync has none. ManualClock, a Marketo sandbox, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from renkei.clock import ManualClock
from renkei.queue import JobQueue
from renkei.store import Database
from renkei.syncs.service import schedule_name

from .harness import START, marketo, sync_rig

pytestmark = pytest.mark.timeout(120)

LEADS_PULL = {
    "name": "leads-in",
    "connection": "marketo",
    "direction": "pull",
    "object": "leads",
    "config": {"fields": ["email", "firstName"]},
    "trigger": {"every_seconds": 1800},
}


async def test_each_tick_queues_one_run_and_next_run_at_follows(database_url: str) -> None:
    clock = ManualClock(START)
    with marketo(clock) as (_, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            sync = await rig.syncs.create(dict(LEADS_PULL))
            assert sync.next_run_at == START + timedelta(seconds=1800)
            others = [Database(rig.hub.database.url) for _ in range(2)]
            try:
                queues = [
                    JobQueue(db, rig.hub.registry, retry=rig.hub.queue.retry, clock=clock)
                    for db in others
                ]
                clock.advance(1800)
                enqueued = await asyncio.gather(*(q.run_due_schedules() for q in queues))
                assert sum(count for count, _ in enqueued) == 1
            finally:
                for db in others:
                    await db.dispose()
            await rig.run()
            [run] = await rig.syncs.runs(sync.id)
            assert run.trigger == "schedule"
            assert (await rig.syncs.get(sync.id)).next_run_at == START + timedelta(seconds=3600)

            await rig.syncs.update(sync.id, {"enabled": False})
            clock.advance(1800)
            await rig.hub.queue.run_due_schedules()
            await rig.run()
            assert len(await rig.syncs.runs(sync.id)) == 1  # disabled: the tick is skipped

            unscheduled = await rig.syncs.update(sync.id, {"trigger": {}})
            assert unscheduled.next_run_at is None
            async with rig.hub.database.read() as connection:
                assert await rig.hub.queue.next_run(connection, schedule_name(sync.id)) is None


async def test_a_deleted_sync_has_no_schedule(database_url: str) -> None:
    clock = ManualClock(START)
    with marketo(clock) as (_, base):
        async with sync_rig(database_url, clock) as rig:
            await rig.connect(base)
            sync = await rig.syncs.create({**LEADS_PULL, "trigger": {"cron": "0 * * * *"}})
            assert sync.next_run_at == START + timedelta(hours=1)
            await rig.syncs.delete(sync.id)
            async with rig.hub.database.read() as connection:
                assert await rig.hub.queue.next_run(connection, schedule_name(sync.id)) is None
