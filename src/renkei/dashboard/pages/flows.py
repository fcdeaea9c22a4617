"""``/ui/flows``: the flows with their state and last runs; a flow's page draws its steps,
lists its versions and runs (each step's input and output), enables or disables it, and
previews what it would send for a pasted or a recent event, sending nothing."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from renkei.dashboard.diagram import diagram
from renkei.dashboard.handlers import action, page, renderer_of
from renkei.dashboard.rendering import time_element
from renkei.dashboard.viewer import Viewer, hub_of
from renkei.errors import Invalid, RenkeiError
from renkei.usecases import events as event_cases
from renkei.usecases import flows as cases

PAGE_SIZE = 50
LAST_RUNS = 3
RUNS_SHOWN = 20
RECENT_EVENTS = 20
MAX_EVENT_CHARS = 32_000
NOTICES = {
    "enabled": "Enabled: new events start runs.",
    "disabled": "Disabled: new events no longer start runs; runs under way finish.",
}


def pretty(value: Any) -> str:
    """JSON as the run log and the preview show it."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def at(value: str | datetime | None) -> Markup:
    """A run's time (RFC 3339 text in run documents) as a ``<time>``."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return time_element(value)


def _notice(request: Request) -> str | None:
    key = request.query_params.get("notice", "")
    return renderer_of(request).gettext(request)(NOTICES[key]) if key in NOTICES else None


@page
async def list_page(request: Request, viewer: Viewer) -> Response:
    hub = hub_of(request)
    listed = await cases.list_flows(
        hub, viewer.principal, limit=PAGE_SIZE, cursor=request.query_params.get("cursor")
    )
    rows = [
        {
            "flow": flow,
            "runs": (await cases.list_runs(hub, viewer.principal, flow.id, limit=LAST_RUNS)).items,
        }
        for flow in listed.items
    ]
    return renderer_of(request).render(
        request,
        "flows/list.html",
        {"flows": rows, "next_cursor": listed.next_cursor, "at": at},
        viewer=viewer,
    )


async def _detail(request: Request, viewer: Viewer, *, status: int = 200, **extra: Any) -> Response:
    hub = hub_of(request)
    flow = await cases.get_flow(hub, viewer.principal, request.path_params["flow_id"])
    document = flow.to_dict()  # redacted: no header or secret-named field in clear
    runs = await cases.list_runs(
        hub, viewer.principal, flow.id, limit=RUNS_SHOWN, cursor=request.query_params.get("runs")
    )
    recent = await event_cases.list_events(hub, viewer.principal, limit=RECENT_EVENTS)
    context: dict[str, Any] = {
        "flow": flow,
        "document": document,
        "boxes": diagram(document),
        "versions": await cases.list_versions(hub, viewer.principal, flow.id),
        "runs": runs.items,
        "runs_cursor": runs.next_cursor,
        "recent_events": recent.items,
        "pretty": pretty,
        "at": at,
        "notice": _notice(request),
        "event_text": "",
        "chosen_event": "",
        "preview": None,
        "error": None,
    }
    context.update(extra)
    return renderer_of(request).render(
        request, "flows/detail.html", context, viewer=viewer, status=status
    )


@page
async def detail_page(request: Request, viewer: Viewer) -> Response:
    return await _detail(request, viewer)


def sample_of(form: FormData) -> tuple[dict[str, Any] | None, str | None]:
    """The pasted event (a JSON object) or the chosen recent event's id; the paste wins."""
    text = str(form.get("event") or "").strip()
    chosen = str(form.get("event_id") or "").strip()
    if text:
        if len(text) > MAX_EVENT_CHARS:
            raise Invalid("the event is too long to preview (at most 32,000 characters)")
        try:
            event = json.loads(text)
        except ValueError as exc:
            raise Invalid(f"the event is not valid JSON: {exc}") from exc
        if not isinstance(event, dict):
            raise Invalid('the event must be a JSON object, e.g. {"type": "track"}')
        return event, None
    if chosen:
        return None, chosen
    raise Invalid("paste an event or choose a recent one")


@action
async def preview(request: Request, viewer: Viewer, form: FormData) -> Response:
    text, chosen = str(form.get("event") or ""), str(form.get("event_id") or "")
    try:
        event, event_id = sample_of(form)
        result = await cases.preview(
            hub_of(request),
            viewer.principal,
            request.path_params["flow_id"],
            event=event,
            event_id=event_id,
        )
    except RenkeiError as error:
        if request.headers.get("hx-request") == "true":
            # 200: htmx swaps no 4xx answer, and the refusal belongs in the result area.
            return renderer_of(request).render(
                request,
                "flows/_preview.html",
                {"preview": None, "error": error, "pretty": pretty},
                viewer=viewer,
            )
        return await _detail(
            request,
            viewer,
            status=error.status,
            error=error,
            event_text=text,
            chosen_event=chosen,
        )
    if request.headers.get("hx-request") == "true":
        return renderer_of(request).render(
            request,
            "flows/_preview.html",
            {"preview": result, "error": None, "pretty": pretty},
            viewer=viewer,
        )
    return await _detail(request, viewer, preview=result, event_text=text, chosen_event=chosen)


async def _switch(request: Request, viewer: Viewer, enabled: bool) -> Response:
    flow_id = request.path_params["flow_id"]
    try:
        await cases.set_enabled(
            hub_of(request), viewer.principal, flow_id, enabled, via="dashboard"
        )
    except RenkeiError as error:
        return await _detail(request, viewer, status=error.status, error=error)
    notice = "enabled" if enabled else "disabled"
    return RedirectResponse(f"/ui/flows/{flow_id}?notice={notice}", 303)


@action
async def enable(request: Request, viewer: Viewer, _: FormData) -> Response:
    return await _switch(request, viewer, True)


@action
async def disable(request: Request, viewer: Viewer, _: FormData) -> Response:
    return await _switch(request, viewer, False)


routes = [
    Route("/ui/flows", list_page, methods=["GET"]),
    Route("/ui/flows/{flow_id}", detail_page, methods=["GET"]),
    Route("/ui/flows/{flow_id}/preview", preview, methods=["POST"]),
    Route("/ui/flows/{flow_id}/enable", enable, methods=["POST"]),
    Route("/ui/flows/{flow_id}/disable", disable, methods=["POST"]),
]
