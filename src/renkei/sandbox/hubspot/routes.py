"""Which path and method run which handler, under which scope and rate-limit policy."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from renkei.sandbox._common import Call
from renkei.sandbox.hubspot import contacts, events, search
from renkei.sandbox.hubspot.contacts import Result
from renkei.sandbox.hubspot.errors import HubSpotError
from renkei.sandbox.hubspot.limits import Policy
from renkei.sandbox.hubspot.state import HubSpotState

Handler = Callable[[HubSpotState, Call], Result]

READ = "crm.objects.contacts.read"
WRITE = "crm.objects.contacts.write"
SEND_EVENTS = "analytics.behavioral_events.send"


@dataclass(frozen=True)
class Operation:
    handler: Handler
    scope: str
    policy: Policy = Policy.STANDARD


@dataclass(frozen=True)
class ApiRoute:
    template: str
    operations: dict[str, Operation]

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        return re.compile(f"^{regex}$")


ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute(
        "/crm/v3/objects/contacts/batch/upsert",
        {"POST": Operation(contacts.batch_upsert, WRITE)},
    ),
    ApiRoute(
        "/crm/v3/objects/contacts/search",
        {"POST": Operation(search.search_contacts, READ, Policy.SEARCH)},
    ),
    ApiRoute(
        "/crm/v3/objects/contacts/gdpr-delete",
        {"POST": Operation(contacts.gdpr_delete, WRITE)},
    ),
    ApiRoute("/crm/v3/objects/contacts", {"GET": Operation(contacts.list_contacts, READ)}),
    ApiRoute(
        "/crm/v3/objects/contacts/{contactId}",
        {"GET": Operation(contacts.get_contact, READ)},
    ),
    ApiRoute("/events/v3/send", {"POST": Operation(events.send_event, SEND_EVENTS, Policy.EXEMPT)}),
    ApiRoute(
        "/events/v3/send/batch",
        {"POST": Operation(events.send_batch, SEND_EVENTS, Policy.EXEMPT)},
    ),
)

_COMPILED = tuple((route, route.pattern) for route in ROUTES)


def resolve(call: Call) -> tuple[Call, Operation]:
    for route, pattern in _COMPILED:
        found = pattern.match(call.path)
        if found is None:
            continue
        operation = route.operations.get(call.method)
        if operation is None:
            raise HubSpotError(405, "VALIDATION_ERROR", f"HTTP {call.method} is not supported")
        endpoint = f"{call.method} {route.template}"
        return replace(call, endpoint=endpoint, path_params=found.groupdict()), operation
    raise HubSpotError(404, "OBJECT_NOT_FOUND", f"No route for {call.method} {call.path}")
