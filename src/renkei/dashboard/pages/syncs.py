"""``/ui/syncs``: each sync with its schedule, last runs (read, created, updated, failed,
calls) and the progress of a running one; per connection, the quota planner's picture of
the day (calls per hour, batch against realtime, against the budget); "Run now"."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from renkei.dashboard.charts import quota_chart
from renkei.dashboard.handlers import action, page, renderer_of
from renkei.dashboard.i18n import Gettext
from renkei.dashboard.viewer import Viewer, hub_of
from renkei.errors import NotFound, RenkeiError
from renkei.usecases import syncs as cases
from renkei.usecases.planner import day_picture

PAGE_SIZE = 50
LAST_RUNS = 5
UNFINISHED = ("queued", "running")
MODES = {
    "realtime": "Realtime: each change goes out as it happens.",
    "coalesce": "Coalescing: the day's projection passes the budget, so changes wait for the next batch (none is lost).",
    "parked": "Parked: the quota is used up; work waits for the reset.",
}
NOTICES = {"queued": "Run queued: it starts in a moment."}


def schedule_of(trigger: dict[str, Any], gettext: Gettext) -> list[str]:
    """A sync's trigger in short lines (every …, cron …, on events …)."""
    lines = []
    if trigger.get("every_seconds"):
        seconds = float(trigger["every_seconds"])
        if seconds >= 60:
            lines.append(gettext("every %(count)s min") % {"count": f"{seconds / 60:g}"})
        else:
            lines.append(gettext("every %(count)s s") % {"count": f"{seconds:g}"})
    if trigger.get("cron"):
        lines.append(f"cron {trigger['cron']}")
    if trigger.get("events"):
        events = ", ".join(map(str, trigger["events"]))
        if trigger.get("names"):
            events += f" ({', '.join(map(str, trigger['names']))})"
        lines.append(gettext("on %(events)s") % {"events": events})
    if trigger.get("suppress_seconds"):
        hours = f"{float(trigger['suppress_seconds']) / 3600:g}"
        lines.append(gettext("once per %(hours)s h per person") % {"hours": hours})
    return lines


async def _list(
    request: Request, viewer: Viewer, *, status: int = 200, error: RenkeiError | None = None
) -> Response:
    hub = hub_of(request)
    listed = await cases.list_syncs(
        hub, viewer.principal, limit=PAGE_SIZE, cursor=request.query_params.get("cursor")
    )
    shown = listed.items
    gettext = renderer_of(request).gettext(request)
    rows = []
    for sync in shown:
        runs = (await cases.list_runs(hub, viewer.principal, sync.id, limit=LAST_RUNS)).items
        rows.append(
            {
                "sync": sync,
                "schedule": schedule_of(sync.trigger, gettext),
                "runs": runs,
                "running": [run for run in runs if run.status in UNFINISHED],
            }
        )
    pictures = []
    for connection in sorted({sync.connection for sync in shown}):
        try:
            picture = await day_picture(hub, viewer.principal, connection)
        except NotFound:
            continue  # a sync whose connection is gone: its row says so
        pictures.append({"picture": picture, "chart": quota_chart(picture)})
    key = request.query_params.get("notice", "")
    return renderer_of(request).render(
        request,
        "syncs/list.html",
        {
            "syncs": rows,
            "pictures": pictures,
            "modes": {mode: gettext(text) for mode, text in MODES.items()},
            "next_cursor": listed.next_cursor,
            "notice": gettext(NOTICES[key]) if key in NOTICES else None,
            "error": error,
        },
        viewer=viewer,
        status=status,
    )


@page
async def list_page(request: Request, viewer: Viewer) -> Response:
    return await _list(request, viewer)


@action
async def run_now(request: Request, viewer: Viewer, _: FormData) -> Response:
    sync_id = request.path_params["sync_id"]
    try:
        await cases.run_sync(hub_of(request), viewer.principal, sync_id)
    except RenkeiError as error:
        return await _list(request, viewer, status=error.status, error=error)
    return RedirectResponse(f"/ui/syncs?notice=queued#sync-{sync_id}", 303)


routes = [
    Route("/ui/syncs", list_page, methods=["GET"]),
    Route("/ui/syncs/{sync_id}/run", run_now, methods=["POST"]),
]
