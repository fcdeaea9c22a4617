"""Flows with a scheduled trigger (``trigger: {schedule: {cron: "0 8 * * 1"}}`` or
``{every: 1h}``): a periodic task starts each due flow once per tick.

Ticks are claimed with a compare-and-set on ``flow_schedules.next_run_at``, so however
many workers run, each tick starts one run. Missed ticks (the process was down) are
skipped, not replayed. The run's event is synthetic: ``{"type": "schedule", "name":
<flow name>, "data": {"tick", "period_start", "period_end"}}``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from croniter import croniter
from sqlalchemy import select, update

from renkei.events.envelope import format_timestamp
from renkei.flows.spec import Schedule
from renkei.store.tables.flows import flow_schedules

if TYPE_CHECKING:
    from renkei.flows.engine import FlowEngine

__all__ = ["SCHEDULE_TASK", "first_tick", "following_tick", "run_due"]

SCHEDULE_TASK = "flows.schedule"


def first_tick(schedule: Schedule, now: datetime) -> datetime:
    if schedule.every_seconds is not None:
        return now + timedelta(seconds=schedule.every_seconds)
    assert schedule.cron is not None
    tick: datetime = croniter(schedule.cron, now).get_next(datetime)
    return tick


def following_tick(schedule: Schedule, previous: datetime, now: datetime) -> datetime:
    if schedule.every_seconds is not None:
        step = timedelta(seconds=schedule.every_seconds)
        missed = int((now - previous) / step) + 1 if now >= previous else 0
        return previous + max(missed, 1) * step
    return first_tick(schedule, now)


def _period_start(schedule: Schedule, tick: datetime, last: datetime | None) -> datetime:
    if last is not None:
        return last
    if schedule.every_seconds is not None:
        return tick - timedelta(seconds=schedule.every_seconds)
    assert schedule.cron is not None
    previous: datetime = croniter(schedule.cron, tick).get_prev(datetime)
    return previous


async def run_due(engine: FlowEngine) -> int:
    """Start every flow whose tick is due; returns how many runs were started."""
    hub = engine.hub
    now = hub.clock.now()
    async with hub.database.read() as connection:
        live = {
            flow.id: flow
            for flow in await engine.catalog.live(connection)
            if flow.compiled.trigger.schedule is not None
        }
        due = list(
            await connection.execute(
                select(flow_schedules).where(flow_schedules.c.next_run_at <= now)
            )
        )
    started = 0
    for row in due:
        flow = live.get(row.flow_id)
        if flow is None:
            continue
        schedule = flow.compiled.trigger.schedule
        assert schedule is not None
        tick: datetime = row.next_run_at
        async with hub.database.transaction() as tx:
            moved = await tx.execute(
                update(flow_schedules)
                .where(
                    flow_schedules.c.flow_id == row.flow_id,
                    flow_schedules.c.next_run_at == tick,
                )
                .values(next_run_at=following_tick(schedule, tick, now), last_run_at=tick)
            )
            if moved.rowcount != 1:
                continue
            event = _tick_event(
                flow.id, flow.name, tick, _period_start(schedule, tick, row.last_run_at), now
            )
            await hub.queue.enqueue(
                tx, "flows.start", {"f": flow.id, "v": flow.version, "event": event}
            )
            started += 1
    return started


def _tick_event(
    flow_id: str, name: str, tick: datetime, period_start: datetime, now: datetime
) -> dict[str, Any]:
    stamp = format_timestamp(tick)
    return {
        "id": f"schedule:{flow_id}:{stamp}",
        "type": "schedule",
        "name": name,
        "data": {
            "tick": stamp,
            "period_start": format_timestamp(period_start),
            "period_end": stamp,
        },
        "occurred_at": stamp,
        "received_at": format_timestamp(now),
        "source_id": None,
        "user_id": None,
        "anonymous_id": None,
        "email": None,
    }
