"""``/ui/sources``: tracking sources with their write key (hidden until revealed: admin,
audited by the use case) and ready-to-paste snippets for the Segment and RudderStack SDKs
pointing at this server; inbound webhook sources with their URL, verification settings,
the recent raw requests and "Replay"."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from renkei.dashboard.formatting import FORMATS
from renkei.dashboard.handlers import action, page, renderer_of
from renkei.dashboard.viewer import Viewer, hub_of
from renkei.errors import RenkeiError
from renkei.events.sources import hook_url
from renkei.usecases import sources as cases

PAGE_SIZE = 50
REQUESTS_SHOWN = 20
KEY_PLACEHOLDER = "YOUR_WRITE_KEY"


def base_url(request: Request) -> str:
    """This server as the SDKs and vendors reach it (``RENKEI_PUBLIC_URL``, else the
    address the browser used)."""
    return (hub_of(request).settings.public_url or str(request.base_url)).rstrip("/")


def snippets(host: str, write_key: str) -> list[tuple[str, str]]:
    """(SDK, code) for the official SDKs in their default configuration."""
    return [
        (
            "Segment analytics-python",
            "# pip install segment-analytics-python\n"
            "from segment.analytics import Client\n\n"
            f'analytics = Client("{write_key}", host="{host}")\n'
            'analytics.track("user-1", "Order Completed", {"total": 12.5})\n'
            "analytics.flush()",
        ),
        (
            "Segment analytics-node",
            "// npm install @segment/analytics-node\n"
            'const { Analytics } = require("@segment/analytics-node");\n\n'
            f'const analytics = new Analytics({{ writeKey: "{write_key}", host: "{host}" }});\n'
            'analytics.track({ userId: "user-1", event: "Order Completed", '
            "properties: { total: 12.5 } });",
        ),
        (
            "RudderStack rudder-sdk-python",
            "# pip install rudder-sdk-python\n"
            "from rudderstack.analytics import Client\n\n"
            f'analytics = Client("{write_key}", host="{host}")\n'
            'analytics.track("user-1", "Order Completed", {"total": 12.5})\n'
            "analytics.flush()",
        ),
        (
            "RudderStack rudder-sdk-node",
            "// npm install @rudderstack/rudder-sdk-node\n"
            'const Analytics = require("@rudderstack/rudder-sdk-node");\n\n'
            f'const analytics = new Analytics("{write_key}", {{ dataPlaneUrl: "{host}" }});\n'
            'analytics.track({ userId: "user-1", event: "Order Completed", '
            "properties: { total: 12.5 } });",
        ),
    ]


@page
async def list_page(request: Request, viewer: Viewer) -> Response:
    listed = await cases.list_sources(
        hub_of(request),
        viewer.principal,
        limit=PAGE_SIZE,
        cursor=request.query_params.get("cursor"),
    )
    host = base_url(request)
    return renderer_of(request).render(
        request,
        "sources/list.html",
        {
            "sources": listed.items,
            "next_cursor": listed.next_cursor,
            "urls": {source.id: hook_url(host, source.id) for source in listed.items},
        },
        viewer=viewer,
    )


async def _detail(request: Request, viewer: Viewer, *, status: int = 200, **extra: Any) -> Response:
    hub = hub_of(request)
    source_id = request.path_params["source_id"]
    source = await cases.get_source(hub, viewer.principal, source_id)
    host = base_url(request)
    context: dict[str, Any] = {
        "source": source,
        "url": hook_url(host, source.id),
        "requests": [],
        "requests_cursor": None,
        "secret": None,
        "notice": None,
        "error": None,
        **FORMATS,
    }
    if source.kind == "webhook":
        listed = await cases.list_requests(
            hub,
            viewer.principal,
            source.id,
            limit=REQUESTS_SHOWN,
            cursor=request.query_params.get("requests"),
        )
        context["requests"] = listed.items
        context["requests_cursor"] = listed.next_cursor
    context.update(extra)
    revealed = context["secret"] or {}
    context["snippets"] = snippets(host, revealed.get("write_key") or KEY_PLACEHOLDER)
    return renderer_of(request).render(
        request, "sources/detail.html", context, viewer=viewer, status=status
    )


@page
async def detail_page(request: Request, viewer: Viewer) -> Response:
    return await _detail(request, viewer)


@action
async def reveal(request: Request, viewer: Viewer, _: FormData) -> Response:
    try:
        secret = await cases.reveal_secret(
            hub_of(request), viewer.principal, request.path_params["source_id"], via="dashboard"
        )
    except RenkeiError as error:
        return await _detail(request, viewer, status=error.status, error=error)
    return await _detail(request, viewer, secret=secret)


@action
async def replay(request: Request, viewer: Viewer, _: FormData) -> Response:
    gettext = renderer_of(request).gettext(request)
    try:
        replayed = await cases.replay_request(
            hub_of(request),
            viewer.principal,
            request.path_params["source_id"],
            request.path_params["request_id"],
            via="dashboard",
        )
    except RenkeiError as error:
        return await _detail(request, viewer, status=error.status, error=error)
    notice = gettext("Replayed: %(events)s events mapped, %(stored)s of them new.") % {
        "events": len(replayed.event_ids),
        "stored": replayed.stored,
    }
    return await _detail(request, viewer, notice=notice)


routes = [
    Route("/ui/sources", list_page, methods=["GET"]),
    Route("/ui/sources/{source_id}", detail_page, methods=["GET"]),
    Route("/ui/sources/{source_id}/secret", reveal, methods=["POST"]),
    Route("/ui/sources/{source_id}/requests/{request_id}/replay", replay, methods=["POST"]),
]
