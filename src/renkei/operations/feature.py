"""``install(hub, runner)``: the ``operations.run`` task, whose ``on_dead`` hook fails the
operation with the job's error, the ``retention.expire`` periodic (retention.py) and,
where the database partitions by time, the ``partitions.maintain`` periodic (partitions.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from renkei.operations import partitions, retention
from renkei.operations.runner import RUN_TASK
from renkei.queue import JobContext

if TYPE_CHECKING:
    from renkei.core import Core
    from renkei.operations.runner import OperationRunner

__all__ = ["install"]


def install(hub: Core, runner: OperationRunner) -> None:
    async def run(ctx: JobContext) -> None:
        await runner.run(str(ctx.payload["o"]))

    async def died(ctx: JobContext, error: str) -> None:
        await runner.fail(str(ctx.payload["o"]), error)

    hub.registry.task(RUN_TASK, queue="operations", on_dead=died)(run)
    retention.install(hub)
    partitions.install(hub)
