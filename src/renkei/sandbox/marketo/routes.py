"""Which REST path and method run which handler. An unknown path answers 610 and a
known path with another method 605, as Marketo does."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from renkei.sandbox._common import Call
from renkei.sandbox.marketo import activities, custom_activities, leads
from renkei.sandbox.marketo.errors import MarketoError
from renkei.sandbox.marketo.state import MarketoState

Handler = Callable[[MarketoState, Call], dict[str, Any]]


@dataclass(frozen=True)
class RestRoute:
    template: str
    handlers: dict[str, Handler]

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        return re.compile(f"^{regex}$")


ROUTES: tuple[RestRoute, ...] = (
    RestRoute(
        "/rest/v1/leads.json",
        {"GET": leads.get_leads_by_filter, "POST": leads.sync_leads},
    ),
    RestRoute("/rest/v1/lead/{leadId}.json", {"GET": leads.get_lead_by_id}),
    RestRoute("/rest/v1/leads/{leadId}/associate.json", {"POST": leads.associate_lead}),
    RestRoute("/rest/v1/leads/delete.json", {"POST": leads.delete_leads}),
    RestRoute("/rest/v1/leads/describe.json", {"GET": leads.describe}),
    RestRoute("/rest/v1/leads/describe2.json", {"GET": leads.describe2}),
    RestRoute("/rest/v1/activities/pagingtoken.json", {"GET": activities.get_paging_token}),
    RestRoute("/rest/v1/activities.json", {"GET": activities.get_activities}),
    RestRoute("/rest/v1/activities/leadchanges.json", {"GET": activities.get_lead_changes}),
    RestRoute("/rest/v1/activities/types.json", {"GET": activities.get_activity_types}),
    RestRoute(
        "/rest/v1/activities/external/types.json",
        {"GET": activities.get_custom_activity_types},
    ),
    RestRoute(
        "/rest/v1/activities/external.json", {"POST": custom_activities.add_custom_activities}
    ),
)

_COMPILED = tuple((route, route.pattern) for route in ROUTES)


def resolve(call: Call) -> tuple[Call, Handler]:
    """The call named by its endpoint template and path parameters, and its handler."""
    for route, pattern in _COMPILED:
        found = pattern.match(call.path)
        if found is None:
            continue
        handler = route.handlers.get(call.method)
        if handler is None:
            raise MarketoError("605")
        endpoint = f"{call.method} {route.template}"
        return replace(call, endpoint=endpoint, path_params=found.groupdict()), handler
    raise MarketoError("610")
