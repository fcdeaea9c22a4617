"""Flows with a scheduled trigger (``trigger: {schedule: {cron: "0 8 * * 1"}}`` or
``{every: 1h}``): each is one of the queue's periodic schedules (``flow:<id>``).

Saving a flow sets or drops its schedule in the same transaction; every worker's scheduler
ticks it exactly once per tick (the queue's compare-and-set), and missed ticks are skipped,
not replayed. A tick starts a run of the flow's live version, if it is still live. The
run's event is synthetic: ``{"type": "schedule", "name": <flow name>, "data": {"tick",
"period_start", "period_end"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.envelope import format_timestamp
from renkei.flows.spec import compile_flow
from renkei.queue import JobQueue, Periodic

if TYPE_CHECKING:
    from renkei.flows.engine import FlowEngine

__all__ = ["SCHEDULE_TASK", "drop_schedule", "schedule_name", "set_schedule", "start_tick"]

SCHEDULE_TASK = "flows.schedule"


def schedule_name(flow_id: str) -> str:
    return f"flow:{flow_id}"


async def set_schedule(
    queue: JobQueue, tx: AsyncConnection, flow_id: str, logic: dict[str, Any]
) -> None:
    """The flow's schedule as its trigger says (none without ``trigger.schedule``); an
    unchanged schedule keeps its next tick."""
    if (logic.get("trigger") or {}).get("schedule") is None:
        await drop_schedule(queue, tx, flow_id)
        return
    schedule = compile_flow(logic).trigger.schedule
    assert schedule is not None
    periodic = Periodic(
        schedule_name(flow_id),
        SCHEDULE_TASK,
        every_seconds=schedule.every_seconds,
        cron=schedule.cron,
        payload={"flow_id": flow_id},
    )
    await queue.set_schedule(tx, periodic)


async def drop_schedule(queue: JobQueue, tx: AsyncConnection, flow_id: str) -> None:
    await queue.drop_schedule(tx, schedule_name(flow_id))


async def start_tick(engine: FlowEngine, tick: Mapping[str, Any]) -> bool:
    """Start a run for a tick of a flow's schedule (the queue's payload: ``flow_id``,
    ``tick``, ``previous_tick``); False when the flow is no longer live or scheduled (a tick
    queued before it was disabled, changed or deleted)."""
    hub = engine.hub
    async with hub.database.transaction() as tx:
        live = {flow.id: flow for flow in await engine.catalog.live(tx)}
        flow = live.get(str(tick.get("flow_id")))
        if flow is None or flow.compiled.trigger.schedule is None:
            return False
        at = datetime.fromisoformat(str(tick["tick"]))
        since = datetime.fromisoformat(str(tick["previous_tick"]))
        event = _tick_event(flow.id, flow.name, at, since, hub.clock.now())
        await hub.queue.enqueue(
            tx, "flows.start", {"f": flow.id, "v": flow.version, "event": event}
        )
    return True


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
