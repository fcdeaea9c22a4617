"""``install(hub, service)``: syncs between Renkei and connections (see docs/syncs.md).

The ``syncs.run``/``push_profile``/``push_event`` tasks' ``on_dead`` hook records a job
that failed for good on its run; the ``syncs.reconcile`` periodic (reconcile.py) fails the
runs the hook cannot see, and forgets realtime pushes' per-event changes past their
retention (changes.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from renkei.queue import JobContext, Periodic
from renkei.syncs.changes import forget_old_changes
from renkei.syncs.engine import PUSH_EVENT_TASK, PUSH_PROFILE_TASK, RUN_TASK
from renkei.syncs.realtime import fanout_handler
from renkei.syncs.reconcile import RECONCILE_TASK, reconcile_runs
from renkei.syncs.resource import SyncsResource
from renkei.syncs.service import SCHEDULE_TASK

if TYPE_CHECKING:
    from renkei.core import Core
    from renkei.syncs.service import SyncService

__all__ = ["QUEUE", "install"]

QUEUE = "syncs"


def install(hub: Core, service: SyncService) -> None:
    engine = service.engine

    async def run(ctx: JobContext) -> None:
        await engine.run(str(ctx.payload["sync_id"]), str(ctx.payload["run_id"]))

    async def push_profile(ctx: JobContext) -> None:
        cause = ctx.payload.get("event_id")  # absent in jobs queued before it was recorded
        await engine.push_profile(
            str(ctx.payload["sync_id"]),
            str(ctx.payload["subject"]),
            event_id=str(cause) if cause else None,
        )

    async def push_event(ctx: JobContext) -> None:
        await engine.push_event(str(ctx.payload["sync_id"]), str(ctx.payload["event_id"]))

    async def scheduled(ctx: JobContext) -> None:
        await service.scheduled_run(ctx.payload)

    async def died(ctx: JobContext, error: str) -> None:
        # The job will not run again: its run (or the day's realtime run) shows why.
        await engine.job_died(ctx.job.task, ctx.payload, error)

    async def reconcile(ctx: JobContext) -> None:
        await reconcile_runs(hub)
        await forget_old_changes(hub)

    hub.registry.task(RUN_TASK, queue=QUEUE, on_dead=died)(run)
    hub.registry.task(PUSH_PROFILE_TASK, queue=QUEUE, on_dead=died)(push_profile)
    hub.registry.task(PUSH_EVENT_TASK, queue=QUEUE, on_dead=died)(push_event)
    hub.registry.task(SCHEDULE_TASK, queue=QUEUE)(scheduled)
    hub.registry.task(RECONCILE_TASK, queue=QUEUE)(reconcile)
    hub.registry.periodic(
        Periodic(RECONCILE_TASK, RECONCILE_TASK, every_seconds=hub.settings.sync_reconcile_seconds)
    )
    hub.fanout.append(fanout_handler(hub, engine, service.live))
    hub.resources[SyncsResource.section] = SyncsResource(service)
