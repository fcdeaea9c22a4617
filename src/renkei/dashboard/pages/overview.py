"""``/ui/``: the last 24 hours and what needs attention."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from renkei.dashboard.handlers import page, renderer_of
from renkei.dashboard.viewer import Viewer, hub_of
from renkei.usecases.overview import deliveries_by_hour, overview


@page
async def show(request: Request, viewer: Viewer) -> Response:
    hub = hub_of(request)
    summary = await overview(hub, viewer.principal)
    hours = await deliveries_by_hour(hub, viewer.principal)
    return renderer_of(request).render(
        request, "overview.html", {"overview": summary, "hours": hours}, viewer=viewer
    )


routes = [Route("/ui/", show, methods=["GET"])]
