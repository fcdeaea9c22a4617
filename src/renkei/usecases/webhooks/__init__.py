"""The webhooks area's use cases: endpoints, the event type catalog, deliveries and
publishing. Each door imports this package: ``webhooks.create_endpoint(hub, actor, ...)``.
"""

from renkei.usecases.webhooks.deliveries import (
    deliveries_of_event,
    delivery_attempts,
    get_delivery,
    list_deliveries,
    resend,
)
from renkei.usecases.webhooks.endpoints import (
    Deleted,
    EndpointView,
    Paused,
    Resumed,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_attempts,
    list_endpoints,
    pause_endpoint,
    recover,
    resume_endpoint,
    reveal_secret,
    rotate_secret,
    send_test,
    update_endpoint,
)
from renkei.usecases.webhooks.event_types import (
    archive_event_type,
    create_event_type,
    get_event_type,
    list_event_types,
    update_event_type,
)
from renkei.usecases.webhooks.publishing import Published, publish

__all__ = [
    "Deleted",
    "EndpointView",
    "Paused",
    "Published",
    "Resumed",
    "archive_event_type",
    "create_endpoint",
    "create_event_type",
    "delete_endpoint",
    "deliveries_of_event",
    "delivery_attempts",
    "get_delivery",
    "get_endpoint",
    "get_event_type",
    "list_attempts",
    "list_deliveries",
    "list_endpoints",
    "list_event_types",
    "pause_endpoint",
    "publish",
    "recover",
    "resend",
    "resume_endpoint",
    "reveal_secret",
    "rotate_secret",
    "send_test",
    "update_endpoint",
    "update_event_type",
]
