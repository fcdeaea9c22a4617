"""The dashboard's ASGI app, and the one port it shares with the API (``renkei serve``)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from renkei.dashboard.handlers import error_page
from renkei.dashboard.headers import SecurityHeaders
from renkei.dashboard.i18n import Catalogs
from renkei.dashboard.pages import ROUTES
from renkei.dashboard.rendering import Renderer
from renkei.dashboard.viewer import viewer_of
from renkei.errors import RenkeiError
from renkei.hub import Hub


async def _to_dashboard(_: Request) -> Response:
    return RedirectResponse("/ui/", 307)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such page, wrong method) as a page, with their status."""
    assert isinstance(exc, HTTPException)
    # A mistyped address gets a sentence the catalogs translate (error.html), not "Not Found".
    code = "no_such_page" if exc.status_code == 404 else "http_error"
    error = RenkeiError(str(exc.detail), code=code)
    error.status = exc.status_code
    return error_page(request, error, await viewer_of(request))


def create_dashboard(hub: Hub) -> ASGIApp:
    """The pages under ``/ui/`` (and ``/`` → ``/ui/``); the hub is started by the API app."""
    app = Starlette(
        routes=[
            Route("/", _to_dashboard),
            Route("/ui", _to_dashboard),
            Mount("/ui/static", StaticFiles(packages=[("renkei.dashboard", "static")])),
            *ROUTES,
        ],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.hub = hub
    app.state.renderer = Renderer(Catalogs())
    return SecurityHeaders(app)


def with_dashboard(api: ASGIApp, hub: Hub) -> ASGIApp:
    """One ASGI app: ``/`` and ``/ui/...`` to the dashboard, everything else (``/api``,
    ``/v1``, ``/hooks``, ``/docs``, lifespan) to the API exactly as before."""
    dashboard = create_dashboard(hub)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path in ("/", "/ui") or path.startswith("/ui/")):
            await dashboard(scope, receive, send)
        else:
            await api(scope, receive, send)

    return app
