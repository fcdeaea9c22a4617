"""Every page's routes. A page is a module here (``routes = [Route(...)]``) and its
templates; list the module below, and its navigation entry in ``navigation.py``."""

from starlette.routing import BaseRoute

from renkei.dashboard.pages import (
    audit,
    connections,
    event_types,
    events,
    flows,
    overview,
    profiles,
    signin,
    sources,
    syncs,
    webhooks,
)

ROUTES: list[BaseRoute] = [
    *signin.routes,
    *overview.routes,
    *webhooks.routes,
    *event_types.routes,
    *events.routes,
    *sources.routes,
    *profiles.routes,
    *audit.routes,
    *flows.routes,
    *connections.routes,
    *syncs.routes,
]
