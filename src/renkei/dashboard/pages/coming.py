"""The navigation's pages not built yet answer a short "coming" page (signed in only).
Building one: add its module to ``pages/__init__.py`` and remove its path here."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from renkei.dashboard.handlers import page, renderer_of
from renkei.dashboard.navigation import NAVIGATION
from renkei.dashboard.viewer import Viewer

NOT_BUILT_YET: list[str] = []


@page
async def show(request: Request, viewer: Viewer) -> Response:
    title = next(label for label, path in NAVIGATION if path == request.url.path)
    return renderer_of(request).render(request, "coming.html", {"title": title}, viewer=viewer)


routes = [Route(path, show, methods=["GET"]) for path in NOT_BUILT_YET]
