"""Publishing an event: it and its deliveries are stored in one transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from renkei.delivery import publishing
from renkei.delivery.publishing import Published
from renkei.usecases.access import Actor, require

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["Published", "publish"]


async def publish(
    hub: Hub,
    actor: Actor,
    *,
    event_type: str,
    data: Any,
    event_id: str | None = None,
    idempotency_key: str | None = None,
    source_id: str = "api",
) -> Published:
    """Store the event (deduplicated by ``event_id``; the same ``idempotency_key`` within
    24 hours answers the same) and fan it out to the endpoints that want it."""
    require(actor, "write")
    return await publishing.publish(
        hub.webhooks,
        event_type=event_type,
        data=data,
        event_id=event_id,
        idempotency_key=idempotency_key,
        source_id=source_id,
    )
