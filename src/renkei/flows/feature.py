"""``install(hub, engine)``: flows plugged into the kernel (see docs/flows.md).

Registers the fan-out handler (trigger matching in the event's transaction), the
``flows.start`` / ``flows.step`` tasks (whose ``on_dead`` hook ends a run whose job died),
the schedule and reconciler (reconcile.py) periodics (finished runs expire through
``retention.expire``, see flows/retention.py), the ``secrets`` and
``flows`` config sections and the engine's closer. ``renkei.hub.Hub`` builds the
:class:`FlowEngine` (``hub.flows``); its routes are listed by ``renkei.api.routes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.flows.engine import QUEUE, START_TASK, STEP_TASK
from renkei.flows.reconcile import RECONCILE_TASK, reconcile_runs
from renkei.flows.resource import FlowsResource
from renkei.flows.schedule import SCHEDULE_TASK, start_tick
from renkei.flows.secrets import SecretsResource
from renkei.queue import JobContext, Periodic

if TYPE_CHECKING:
    from renkei.core import Core
    from renkei.flows.engine import FlowEngine

__all__ = ["RECONCILE_TASK", "install"]


def install(hub: Core, engine: FlowEngine) -> None:
    hub.closers.append(engine.close)

    async def handler(connection: AsyncConnection, events: Sequence[Any]) -> None:
        await engine.fan_out(connection, events)

    hub.fanout.append(handler)

    async def start(ctx: JobContext) -> None:
        await engine.start(ctx.payload)

    async def step(ctx: JobContext) -> None:
        await engine.step(ctx)

    async def start_died(ctx: JobContext, error: str) -> None:
        await engine.job_died(START_TASK, ctx.payload, error)

    async def step_died(ctx: JobContext, error: str) -> None:
        await engine.job_died(STEP_TASK, ctx.payload, error)

    async def reconcile(ctx: JobContext) -> None:
        await reconcile_runs(engine)

    async def schedule(ctx: JobContext) -> None:
        await start_tick(engine, ctx.payload)

    hub.registry.task(START_TASK, queue=QUEUE, on_dead=start_died)(start)
    hub.registry.task(STEP_TASK, queue=QUEUE, on_dead=step_died)(step)
    hub.registry.task(RECONCILE_TASK, queue=QUEUE)(reconcile)
    hub.registry.task(SCHEDULE_TASK, queue=QUEUE)(schedule)
    hub.registry.periodic(
        Periodic(RECONCILE_TASK, RECONCILE_TASK, every_seconds=hub.settings.flow_reconcile_seconds)
    )
    hub.resources["secrets"] = SecretsResource()  # before flows: a flow may use them
    hub.resources["flows"] = FlowsResource()
