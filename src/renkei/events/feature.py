"""The ingest feature: ``install(hub, service)`` adds the ingest service's config section
(sources) and its upkeep (pruning raw webhook requests) to the kernel; ``renkei.hub.Hub``
builds the service. Its HTTP side (the tracking API, inbound webhooks, sources, events,
profiles) is listed by ``renkei.api.routes``."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete

from renkei.events.source_config import SourcesResource
from renkei.queue import Periodic
from renkei.store.tables.ingest import webhook_requests

if TYPE_CHECKING:
    from renkei.core import Core
    from renkei.events.ingest import IngestService
    from renkei.queue.worker import JobContext

PRUNE_TASK = "ingest.prune_webhook_requests"


def install(hub: Core, service: IngestService) -> None:
    hub.openers.append(service.committer.open)
    hub.closers.append(service.committer.close)
    hub.closers.append(service.violations.close)
    hub.resources[SourcesResource.section] = SourcesResource(service)
    hub.registry.task(PRUNE_TASK, queue="default")(prune_webhook_requests)
    hub.registry.periodic(Periodic(PRUNE_TASK, PRUNE_TASK, every_seconds=3600))


async def prune_webhook_requests(ctx: JobContext) -> None:
    """Forget raw webhook requests older than ``RENKEI_WEBHOOK_REQUEST_RETENTION_DAYS``."""
    hub: Core = ctx.services["hub"]
    cutoff = ctx.now() - timedelta(days=hub.settings.webhook_request_retention_days)
    async with hub.database.transaction() as tx:
        await tx.execute(delete(webhook_requests).where(webhook_requests.c.received_at < cutoff))
