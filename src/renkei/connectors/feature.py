"""``install(hub, service)``: vendor connectors plugged into the kernel (see docs/connectors/)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from renkei.connectors.batching import CALL_TASK, SWEEP_TASK, run_call, sweep
from renkei.connectors.call_buckets import CallCountFlusher
from renkei.connectors.resource import ConnectionsResource
from renkei.queue import JobContext, Periodic

if TYPE_CHECKING:
    from renkei.connectors.service import ConnectorService
    from renkei.core import Core

__all__ = ["QUEUE", "install"]

# Vendor failures without a time of their own (a 5xx, a timeout) retry on
# RENKEI_RETRY_SCHEDULE; limits and quotas park jobs without using attempts.
QUEUE = "connectors"


def install(hub: Core, service: ConnectorService) -> None:
    hub.closers.append(service.runtime.pools.close_pools)
    # Calls counted per connection reach the database every few seconds and at the end.
    flusher = CallCountFlusher(hub, service.runtime.counts)
    hub.openers.append(flusher.start)
    hub.closers.append(flusher.stop)

    async def call(ctx: JobContext) -> None:
        await run_call(service.runtime, ctx)

    async def upkeep(ctx: JobContext) -> None:
        await sweep(service.runtime)

    hub.registry.task(CALL_TASK, queue=QUEUE)(call)
    hub.registry.task(SWEEP_TASK, queue=QUEUE)(upkeep)
    hub.registry.periodic(Periodic(SWEEP_TASK, SWEEP_TASK, every_seconds=60))
    hub.resources[ConnectionsResource.section] = ConnectionsResource(service)
