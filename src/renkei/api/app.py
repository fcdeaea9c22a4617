"""The ASGI application: one port for ingest, hooks, the management API and health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from renkei import __version__
from renkei.api.body_timeout import BodyTimeout
from renkei.api.docs import install_docs
from renkei.api.errors import install_error_handlers
from renkei.api.health import router as health_router
from renkei.api.middleware import BodyLimit, JsonBody, RequestContext
from renkei.api.openapi import install_openapi
from renkei.api.routes import fast_paths, routers
from renkei.hub import Hub
from renkei.process import SharedFlag, tune_long_running_process


def create_app(
    hub: Hub,
    *,
    with_worker: bool = True,
    long_running: bool = False,
    migrated: SharedFlag | None = None,
) -> ASGIApp:
    """The management API (FastAPI) behind the hot paths' ASGI middleware.

    ``long_running``: the process serves nothing else (``renkei serve``); tune it for that,
    and let it start without its database (not ready until the database answers).
    ``migrated``: set when the schema is up to date (by ``renkei serve`` before it forks,
    or by the first process that could migrate it); a process started after that does not
    migrate.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await hub.start(
            with_worker=with_worker,
            migrate=migrated is None or not migrated.is_set(),
            wait_for_database=long_running,
            on_migrated=migrated.set if migrated is not None else None,
        )
        if long_running:
            tune_long_running_process()
        try:
            yield
        finally:
            await hub.stop()

    app = FastAPI(
        title="Renkei",
        version=__version__,
        description="Connects marketing tools: events in, flows, reliable delivery out.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, from vendored assets (no CDN)
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.hub = hub
    install_openapi(app)
    install_docs(app)
    install_error_handlers(app)
    # The routes go onto the app as the routers built them (each router carries its prefix
    # and tags). An included router would build every route's handler again for each app,
    # on its first request: tens of milliseconds for each hub a test serves.
    for router in (health_router, *routers(hub)):
        app.router.routes.extend(router.routes)
    app.add_middleware(JsonBody)
    app.add_middleware(BodyLimit, limit=hub.settings.max_body_bytes)
    app.add_middleware(RequestContext)
    # Outside FastAPI altogether, even its built-in error and telemetry layers: hot paths
    # (the tracking API) that need none of it (docs/ingest.md).
    return BodyTimeout(fast_paths(hub, app), seconds=hub.settings.body_timeout_seconds)
