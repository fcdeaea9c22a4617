"""The ingest feature: ``install(hub)`` plugs sources, the tracking API, inbound webhooks,
profiles and the event log into a hub (listed in ``renkei.hub.FEATURES``)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete

from renkei.events.ingest import IngestService
from renkei.events.source_config import SourcesResource
from renkei.queue import Periodic
from renkei.store.tables.ingest import webhook_requests

if TYPE_CHECKING:
    from renkei.hub import Hub
    from renkei.queue.worker import JobContext

PRUNE_TASK = "ingest.prune_webhook_requests"


def install(hub: Hub) -> None:
    from renkei.api import hooks, ingest
    from renkei.api.v1 import events, profiles, sources

    service = IngestService(hub)
    hub.services["ingest"] = service
    ingest.install(hub, service)  # the tracking API: an ASGI fast path, not a route
    # Inbound webhooks are a hot path too: first in line, so routing finds them after a
    # handful of routes rather than after every management route.
    hub.routers[:0] = [hooks.build_router(hub, service)]
    hub.routers += [sources.router, events.router, profiles.router]
    hub.resources[SourcesResource.section] = SourcesResource()
    hub.registry.task(PRUNE_TASK, queue="default")(prune_webhook_requests)
    hub.registry.periodic(Periodic(PRUNE_TASK, PRUNE_TASK, every_seconds=3600))


async def prune_webhook_requests(ctx: JobContext) -> None:
    """Forget raw webhook requests older than ``RENKEI_WEBHOOK_REQUEST_RETENTION_DAYS``."""
    hub: Hub = ctx.services["hub"]
    cutoff = ctx.now() - timedelta(days=hub.settings.webhook_request_retention_days)
    async with hub.database.transaction() as tx:
        await tx.execute(delete(webhook_requests).where(webhook_requests.c.received_at < cutoff))
