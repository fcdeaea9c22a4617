"""OAuth connect over HTTP: ``POST /api/v1/connections/{ref}/oauth/start`` answers the
vendor's authorize URL; ``GET /oauth/callback`` (where the vendor sends the browser back)
exchanges the code and redirects a browser (a request accepting text/html) to the dashboard's
connections page, or answers JSON (to other clients, or when the start asked for it). A
refused callback is a 400: a short HTML page for a browser, the usual JSON error otherwise."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from renkei.api.auth import require
from renkei.api.errors import renkei_error_response
from renkei.errors import RenkeiError
from renkei.security.tokens import Principal
from renkei.usecases import oauth

if TYPE_CHECKING:
    from renkei.hub import Hub

start_router = APIRouter(prefix="/api/v1/connections", tags=["connections"])
callback_router = APIRouter(tags=["connections"])

Writer = Annotated[Principal, Depends(require("write"))]
_PARAM = 4096  # a code or state longer than this is no vendor's


class OAuthStartIn(BaseModel):
    return_to: Literal["dashboard", "json"] = Field(
        "dashboard",
        description="Where the callback ends: a redirect to the dashboard's connections "
        "page, or a JSON answer.",
    )


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


@start_router.post("/{ref}/oauth/start")
async def start_oauth(
    ref: str, request: Request, principal: Writer, body: OAuthStartIn | None = None
) -> dict[str, object]:
    """Begin Connect: send the user's browser to ``authorize_url`` (valid 10 minutes, once).
    The connection needs its OAuth app's ``client_id`` and ``client_secret`` credentials."""
    return_to = body.return_to if body is not None else "dashboard"
    return await oauth.start(
        _hub(request),
        principal,
        ref,
        request_base_url=str(request.base_url),
        return_to=return_to,
    )


@callback_router.get(
    oauth.CALLBACK_PATH,
    response_model=None,
    responses={
        303: {"description": "Connected: a browser goes on to the dashboard's connections page."},
        400: {
            "description": "Not connected: the state is missing, unknown, used or expired, the "
            "user declined, or the vendor refused the code (the error shape; an HTML page for "
            "a browser).",
            "content": {"application/json": {}, "text/html": {}},
        },
        404: {"description": "The connection was deleted since Connect started."},
        502: {"description": "The vendor's token endpoint failed."},
    },
)
async def oauth_callback(
    request: Request,
    code: Annotated[str | None, Query(max_length=_PARAM)] = None,
    state: Annotated[str | None, Query(max_length=_PARAM)] = None,
    error: Annotated[str | None, Query(max_length=_PARAM)] = None,
) -> Response:
    """Where the vendor sends the browser back after consent (``code`` and ``state``) or a
    refusal (``error``, e.g. ``access_denied``)."""
    browser = _wants_html(request)
    try:
        connected = await oauth.finish(_hub(request), state=state, code=code, error=error)
    except RenkeiError as exc:
        if browser:
            return _page(exc.status, "Not connected", exc.message)
        return renkei_error_response(exc)
    row = connected.connection
    if not browser or connected.return_to == "json":
        return JSONResponse({"connection": row.name, "id": row.id, "status": row.status})
    return RedirectResponse(f"/ui/connections?notice=connected#connection-{row.id}", 303)


def _wants_html(request: Request) -> bool:
    # A browser's navigation always accepts text/html; an API client gets JSON.
    return "text/html" in request.headers.get("accept", "")


def _page(status: int, title: str, message: str) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
        '<p><a href="/ui/connections">Connections</a></p></body></html>'
    )
    return HTMLResponse(body, status_code=status)
