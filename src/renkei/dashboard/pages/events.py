"""``/ui/events``: the event log with filters (type, name, user, source, time), cursor pages
and new arrivals polled by htmx (a small fragment every few seconds: no inline script);
``/ui/events/{event_id}``: what happened to an event, in one timeline."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from renkei.dashboard.formatting import FORMATS
from renkei.dashboard.handlers import page, renderer_of
from renkei.dashboard.viewer import Viewer, hub_of
from renkei.errors import Invalid, NotFound
from renkei.usecases import events as cases
from renkei.usecases import sources as source_cases
from renkei.usecases.paging import Listed, every
from renkei.usecases.timeline import timeline

PAGE_SIZE = 50
ARRIVALS_SHOWN = 20
POLL_SECONDS = 5
FILTERS = ("type", "name", "user_id", "source_id", "since", "until")


def _time(text: str, label: str) -> datetime | None:
    """A time field or nothing. dashboard.js sends the viewer's local time as UTC ISO (as
    for Recover); a bare value (no script, a typed URL) is UTC."""
    if not text:
        return None
    try:
        given = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Invalid(f"{label} is not a time, e.g. 2026-12-01T09:00") from exc
    return given.replace(tzinfo=UTC) if given.tzinfo is None else given.astimezone(UTC)


def _field(text: str) -> str:
    """A filter's time as its ``datetime-local`` input holds it: UTC wall time, which
    dashboard.js shows in the viewer's zone."""
    try:
        given = _time(text, "")
    except Invalid:
        return text
    return given.strftime("%Y-%m-%dT%H:%M:%S") if given else ""


def _filters(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "").strip() for name in FILTERS}


async def _listed(
    request: Request, viewer: Viewer, filters: dict[str, str], *, limit: int, cursor: str | None
) -> Listed[dict[str, Any]]:
    return await cases.list_events(
        hub_of(request),
        viewer.principal,
        types=[filters["type"]] if filters["type"] else [],
        name=filters["name"] or None,
        user_id=filters["user_id"] or None,
        source_id=filters["source_id"] or None,
        since=_time(filters["since"], "from"),
        until=_time(filters["until"], "until"),
        limit=limit,
        cursor=cursor,
    )


def _query(filters: dict[str, str], **more: str) -> str:
    return urlencode({**{k: v for k, v in filters.items() if v}, **more})


@page
async def list_page(request: Request, viewer: Viewer) -> Response:
    hub = hub_of(request)
    filters = _filters(request)
    cursor = request.query_params.get("cursor")
    listed = await _listed(request, viewer, filters, limit=PAGE_SIZE, cursor=cursor)
    sources = await every(
        lambda after, size: source_cases.list_sources(
            hub, viewer.principal, limit=size, cursor=after
        )
    )
    newest = listed.items[0]["id"] if listed.items and not cursor else ""
    return renderer_of(request).render(
        request,
        "events/list.html",
        {
            "events": listed.items,
            "filters": filters,
            "times": {name: _field(filters[name]) for name in ("since", "until")},
            "sources": sources,
            "source_names": {source.id: source.name for source in sources},
            "next_query": _query(filters, cursor=listed.next_cursor)
            if listed.next_cursor
            else None,
            "arrivals_query": _query(filters, newest=newest) if not cursor else None,
            "arrivals": [],
            "more_arrivals": False,
            "filter_query": _query(filters),
            "poll_seconds": POLL_SECONDS,
            **FORMATS,
        },
        viewer=viewer,
    )


@page
async def arrivals(request: Request, viewer: Viewer) -> Response:
    """The fragment polled by the log's first page: events newer than ``newest`` (an id
    the page showed), at most ``ARRIVALS_SHOWN`` of them; one indexed read each time."""
    filters = _filters(request)
    newest = request.query_params.get("newest", "")
    listed = await _listed(request, viewer, filters, limit=ARRIVALS_SHOWN + 1, cursor=None)
    fresh: list[dict[str, Any]] = []
    for event in listed.items:
        if event["id"] == newest:
            break
        fresh.append(event)
    return renderer_of(request).render(
        request,
        "events/_arrivals.html",
        {
            "arrivals": fresh[:ARRIVALS_SHOWN],
            "more_arrivals": len(fresh) > ARRIVALS_SHOWN,
            "arrivals_query": _query(filters, newest=newest),
            "filters": filters,
            "filter_query": _query(filters),
            "poll_seconds": POLL_SECONDS,
            **FORMATS,
        },
        viewer=viewer,
    )


@page
async def detail_page(request: Request, viewer: Viewer) -> Response:
    hub = hub_of(request)
    found = await timeline(hub, viewer.principal, request.path_params["event_id"])
    source = None
    if found.event["source_id"]:
        # None when published through the API or a flow, or from a source deleted since.
        with suppress(NotFound):
            source = await source_cases.get_source(hub, viewer.principal, found.event["source_id"])
    return renderer_of(request).render(
        request,
        "events/detail.html",
        {"event": found.event, "source": source, "entries": found.entries, **FORMATS},
        viewer=viewer,
    )


routes = [
    Route("/ui/events", list_page, methods=["GET"]),
    Route("/ui/events/arrivals", arrivals, methods=["GET"]),
    Route("/ui/events/{event_id}", detail_page, methods=["GET"]),
]
