"""What the HTTP app serves: every router, in the order routing tries them, and the ASGI
fast paths that answer the hot requests before FastAPI sees them (docs/ingest.md).

The API lists them itself: features know nothing of HTTP."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.types import ASGIApp

from renkei.api import hooks
from renkei.api.ingest import IngestFastPath
from renkei.api.v1 import (
    alerts,
    audit,
    connections,
    connectors,
    deliveries,
    endpoints,
    event_types,
    events,
    flows,
    jobs,
    oauth,
    operations,
    privacy,
    profiles,
    publish,
    secrets,
    source_presets,
    sources,
    syncs,
    tokens,
    violations,
)
from renkei.api.v1.publish import PublishFastPath
from renkei.hub import Hub

__all__ = ["ROUTERS", "fast_paths", "routers"]

ROUTERS: tuple[APIRouter, ...] = (
    tokens.router,
    audit.router,
    event_types.router,
    endpoints.router,
    publish.router,
    deliveries.router,
    sources.router,
    source_presets.router,
    events.router,
    profiles.router,
    privacy.router,
    connections.router,
    oauth.start_router,
    oauth.callback_router,
    flows.router,
    secrets.router,
    connectors.router,
    syncs.router,
    operations.router,
    jobs.router,
    alerts.router,
    violations.router,
)
"""The management API (``/api/v1/...``)."""


def routers(hub: Hub) -> list[APIRouter]:
    # Inbound webhooks are a hot path too: first in line, so routing finds them after a
    # handful of routes rather than after every management route.
    return [hooks.build_router(hub, hub.ingest), *ROUTERS]


def fast_paths(hub: Hub, app: ASGIApp) -> ASGIApp:
    """``app`` behind the tracking API (all of ``/v1/*``), then publishing
    (``POST /api/v1/events``)."""
    return IngestFastPath(PublishFastPath(app, hub), hub, hub.ingest)
