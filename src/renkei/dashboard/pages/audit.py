"""``/ui/audit``: who did what, when (secret reveals, rotations, deletions, sign-ins),
newest first, filtered by action, a page at a time (admin, as in the API)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from renkei.dashboard.formatting import FORMATS
from renkei.dashboard.handlers import page, renderer_of
from renkei.dashboard.viewer import Viewer, hub_of
from renkei.usecases.audit import list_audit

PAGE_SIZE = 50


@page
async def list_page(request: Request, viewer: Viewer) -> Response:
    wanted = request.query_params.get("action", "").strip()
    listed = await list_audit(
        hub_of(request),
        viewer.principal,
        limit=PAGE_SIZE,
        cursor=request.query_params.get("cursor"),
        action=wanted or None,
    )
    older = (
        urlencode(
            {"action": wanted, "cursor": listed.next_cursor}
            if wanted
            else {"cursor": listed.next_cursor}
        )
        if listed.next_cursor
        else None
    )
    return renderer_of(request).render(
        request,
        "audit/list.html",
        {"entries": listed.items, "wanted": wanted, "older": older, **FORMATS},
        viewer=viewer,
    )


routes = [Route("/ui/audit", list_page, methods=["GET"])]
