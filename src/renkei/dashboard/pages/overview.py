"""``/ui/``: the last 24 hours and what needs attention."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from renkei.dashboard.handlers import page, renderer_of
from renkei.dashboard.viewer import Viewer, hub_of
from renkei.usecases.overview import overview


@page
async def show(request: Request, viewer: Viewer) -> Response:
    summary = await overview(hub_of(request), viewer.principal)
    return renderer_of(request).render(
        request, "overview.html", {"overview": summary}, viewer=viewer
    )


routes = [Route("/ui/", show, methods=["GET"])]
