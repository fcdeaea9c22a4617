"""``/ui/profiles``: find a person by email or user id; a profile shows its identities (a
vendor id with the connection it belongs to), its traits with when each last changed, and
its recent events."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from renkei.dashboard.formatting import FORMATS
from renkei.dashboard.handlers import page, renderer_of
from renkei.dashboard.viewer import Viewer, hub_of
from renkei.errors import NotFound
from renkei.events.profiles import Profile
from renkei.usecases import connections as connection_cases
from renkei.usecases import profiles as cases

PAGE_SIZE = 50
RECENT_EVENTS = 20
OWN_KINDS = frozenset({"user_id", "email", "anonymous_id"})  # every other kind is a vendor's


@page
async def list_page(request: Request, viewer: Viewer) -> Response:
    """Newest profiles, or the one holding the email or user id asked for (an ``@`` means an
    email; ``user_id=`` links from an event's page)."""
    wanted = request.query_params.get("q", "").strip()
    user_id = request.query_params.get("user_id", "").strip() or None
    email = None
    if wanted and "@" in wanted:
        email = wanted
    elif wanted:
        user_id = wanted
    listed = await cases.list_profiles(
        hub_of(request),
        viewer.principal,
        user_id=user_id,
        email=email,
        limit=PAGE_SIZE,
        cursor=request.query_params.get("cursor"),
    )
    return renderer_of(request).render(
        request,
        "profiles/list.html",
        {
            "profiles": listed.items,
            "next_cursor": listed.next_cursor,
            "wanted": wanted or user_id or "",
            **FORMATS,
        },
        viewer=viewer,
    )


def headline(profile: Profile) -> str:
    """How a person is named in a list: email, else user id, else anonymous id."""
    for kind in ("email", "user_id", "anonymous_id"):
        if profile.values(kind):
            return profile.values(kind)[0]
    return profile.id


async def _identities(request: Request, viewer: Viewer, profile: Profile) -> list[dict[str, Any]]:
    """Each identity; a vendor id (``<connection id>:<vendor id>``) with its connection."""
    names: dict[str, str | None] = {}
    shown: list[dict[str, Any]] = []
    for identity in profile.identities:
        row: dict[str, Any] = {"kind": identity.kind, "value": identity.value, "connection": None}
        row["created_at"] = identity.created_at
        connection_id, colon, vendor_id = identity.value.partition(":")
        if identity.kind not in OWN_KINDS and colon:
            if connection_id not in names:
                try:
                    found = await connection_cases.get_connection(
                        hub_of(request), viewer.principal, connection_id
                    )
                    names[connection_id] = found.name
                except NotFound:
                    names[connection_id] = None  # deleted since
            row["value"] = vendor_id
            row["connection"] = names[connection_id] or connection_id
        shown.append(row)
    return shown


@page
async def detail_page(request: Request, viewer: Viewer) -> Response:
    detail = await cases.get_profile(
        hub_of(request), viewer.principal, request.path_params["profile_id"], events=RECENT_EVENTS
    )
    traits = sorted(detail.profile.traits.items())
    return renderer_of(request).render(
        request,
        "profiles/detail.html",
        {
            "profile": detail.profile,
            "headline": headline(detail.profile),
            "identities": await _identities(request, viewer, detail.profile),
            "traits": traits,
            "events": detail.recent_events,
            **FORMATS,
        },
        viewer=viewer,
    )


routes = [
    Route("/ui/profiles", list_page, methods=["GET"]),
    Route("/ui/profiles/{profile_id}", detail_page, methods=["GET"]),
]
