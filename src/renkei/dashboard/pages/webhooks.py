"""``/ui/webhooks``: MAAC's webhook module. The list with status and health; create with
name, URL and event types; an endpoint's page with its secret (reveal, copy, rotate), test
sends explained in words, pause, resume, delete, recover, and the attempt log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from renkei.dashboard.handlers import action, error_page, from_htmx, page, renderer_of
from renkei.dashboard.i18n import Gettext
from renkei.dashboard.viewer import Viewer, hub_of
from renkei.delivery.event_types import EventType
from renkei.errors import Invalid, RenkeiError
from renkei.usecases import webhooks as cases
from renkei.usecases.overview import deliveries_by_hour
from renkei.usecases.paging import every

PAGE_SIZE = 50
ATTEMPTS_SHOWN = 20

# What a failed test means, for the marketer who pressed "Send test" (status → words).
MEANINGS = {
    400: "your receiver did not accept the payload (400)",
    401: "your receiver rejected the signature: give the engineer the current secret",
    403: "your receiver refused the request: check the secret or its access rules",
    404: "nothing answers at this URL on your receiver: check the URL",
    405: "your receiver does not accept POST at this URL",
    408: "your receiver did not answer in time",
    410: "your receiver says this URL is gone",
    413: "your receiver found the payload too large",
    422: "your receiver did not understand the payload",
    429: "your receiver asks to slow down: set a rate limit",
}
NOTICES = {
    "created": "Endpoint created. Reveal its secret and give it to the engineer.",
    "paused": "Paused: new deliveries wait until you resume.",
    "resumed": "Resumed: waiting deliveries are being sent.",
    "deleted": "Endpoint deleted.",
}


def meaning(status_code: int | None, gettext: Gettext) -> str:
    """What a failed test means, in the viewer's language."""
    if status_code is None:
        return gettext(
            "your receiver could not be reached (no answer): check the URL and that it is up"
        )
    if status_code in MEANINGS:
        return gettext(MEANINGS[status_code])
    if 300 <= status_code < 400:
        return gettext(
            "your receiver answered with a redirect; webhooks do not follow redirects: use the final URL"
        )
    if status_code >= 500:
        return gettext("your receiver failed while handling the event (a server error on its side)")
    return gettext("your receiver answered %(status)s, which is not a success (2xx)") % {
        "status": status_code
    }


def endpoint_status(endpoint: Any) -> str:
    """active, paused (by someone) or disabled (by Renkei, after failing too long)."""
    if not endpoint.disabled:
        return "active"
    return "paused" if endpoint.disabled_reason in (None, "paused") else "disabled"


async def _catalog(request: Request, viewer: Viewer) -> list[EventType]:
    """The whole event-type catalog (the checkboxes and the test's choices)."""
    hub = hub_of(request)
    return await every(
        lambda cursor, size: cases.list_event_types(
            hub, viewer.principal, limit=size, cursor=cursor
        )
    )


def _notice(request: Request) -> str | None:
    key = request.query_params.get("notice", "")
    return renderer_of(request).gettext(request)(NOTICES[key]) if key in NOTICES else None


@page
async def list_page(request: Request, viewer: Viewer) -> Response:
    listed = await cases.list_endpoints(
        hub_of(request),
        viewer.principal,
        limit=PAGE_SIZE,
        cursor=request.query_params.get("cursor"),
    )
    rows = [
        {"endpoint": item.endpoint, "health": item.health, "status": endpoint_status(item.endpoint)}
        for item in listed.items
    ]
    return renderer_of(request).render(
        request,
        "webhooks/list.html",
        {"endpoints": rows, "next_cursor": listed.next_cursor, "notice": _notice(request)},
        viewer=viewer,
    )


async def _new_form(
    request: Request,
    viewer: Viewer,
    form: FormData | None = None,
    error: RenkeiError | None = None,
) -> Response:
    event_types = await _catalog(request, viewer)
    return renderer_of(request).render(
        request,
        "webhooks/new.html",
        {
            "event_types": event_types,
            "form": form or FormData(),
            "chosen": form.getlist("event_types") if form else [],
            "error": error,
        },
        viewer=viewer,
        status=error.status if error else 200,
    )


@page
async def new_page(request: Request, viewer: Viewer) -> Response:
    return await _new_form(request, viewer)


def _fields(form: FormData, catalog: set[str]) -> dict[str, Any]:
    """The form's fields as the use case takes them; what only a form can get wrong (a
    checkbox value not in the catalog, JSON, ``Name: value`` lines) is checked here."""
    chosen = [str(value) for value in form.getlist("event_types")]
    unknown = [name for name in chosen if name not in catalog]
    if unknown:
        raise Invalid(f"unknown event type: {', '.join(unknown)}")
    fields: dict[str, Any] = {
        "name": str(form.get("name") or "").strip(),
        "url": str(form.get("url") or "").strip(),
        "description": str(form.get("description") or "").strip(),
        "event_types": chosen,
        "ordered": bool(form.get("ordered")),
    }
    if not fields["name"]:
        raise Invalid("give the endpoint a name")
    if not fields["url"]:
        raise Invalid("give the endpoint's URL")
    filter_text = str(form.get("filter") or "").strip()
    if filter_text:
        try:
            fields["filter"] = json.loads(filter_text)
        except ValueError as exc:
            raise Invalid(f"the filter is not valid JSON: {exc}") from exc
    headers: dict[str, str] = {}
    for line in str(form.get("headers") or "").splitlines():
        if line.strip():
            name, colon, value = line.partition(":")
            if not colon or not name.strip():
                raise Invalid(f"a header line must read Header: value, not {line.strip()!r}")
            headers[name.strip()] = value.strip()
    if headers:
        fields["headers"] = headers
    rate = str(form.get("rate_limit") or "").strip()
    if rate:
        try:
            fields["rate_limit_per_second"] = float(rate)
        except ValueError as exc:
            raise Invalid("the rate limit must be a number of requests per second") from exc
        if fields["rate_limit_per_second"] <= 0:
            raise Invalid("the rate limit must be above 0")
    return fields


@action
async def create(request: Request, viewer: Viewer, form: FormData) -> Response:
    hub = hub_of(request)
    try:
        catalog = {item.name for item in await _catalog(request, viewer)}
        endpoint = await cases.create_endpoint(
            hub, viewer.principal, _fields(form, catalog), via="dashboard"
        )
    except RenkeiError as error:
        return await _new_form(request, viewer, form, error)
    return RedirectResponse(f"/ui/webhooks/{endpoint.id}?notice=created", 303)


async def _detail(
    request: Request,
    viewer: Viewer,
    endpoint_id: str,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    hub = hub_of(request)
    found = await cases.get_endpoint(hub, viewer.principal, endpoint_id)
    cursor = request.query_params.get("attempts")
    attempts = await cases.list_attempts(
        hub, viewer.principal, endpoint_id, limit=ATTEMPTS_SHOWN, cursor=cursor
    )
    event_types = found.endpoint.event_types or [
        item.name for item in await _catalog(request, viewer)
    ]
    hours = await deliveries_by_hour(hub, viewer.principal, endpoint_id=endpoint_id)
    since = (hub.clock.now() - timedelta(hours=24)).astimezone(UTC)
    context: dict[str, Any] = {
        "endpoint": found.endpoint,
        "health": found.health,
        "status": endpoint_status(found.endpoint),
        "attempts": attempts.items,
        "hours": hours,
        "attempts_cursor": attempts.next_cursor,
        "test_event_types": event_types,
        "grace_hours": f"{hub.settings.secret_rotation_grace_seconds / 3600:.3g}",
        "recover_since": since.strftime("%Y-%m-%dT%H:%M:%S"),
        "notice": _notice(request),
        "secret": None,
        "result": None,
        "meaning": "",
    }
    context.update(extra)
    return renderer_of(request).render(
        request, "webhooks/detail.html", context, viewer=viewer, status=status
    )


@page
async def detail_page(request: Request, viewer: Viewer) -> Response:
    return await _detail(request, viewer, request.path_params["endpoint_id"])


async def _after(request: Request, viewer: Viewer, error: RenkeiError) -> Response:
    """An action refused: the endpoint's page again, with why beside the buttons (for htmx,
    the shared alert: it swaps no 4xx page)."""
    if from_htmx(request):
        return error_page(request, error, viewer)
    return await _detail(
        request, viewer, request.path_params["endpoint_id"], status=error.status, error=error
    )


@action
async def reveal(request: Request, viewer: Viewer, _: FormData) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    hub = hub_of(request)
    try:
        secret = await cases.reveal_secret(hub, viewer.principal, endpoint_id, via="dashboard")
    except RenkeiError as error:
        return await _after(request, viewer, error)
    if request.headers.get("hx-request") == "true":
        found = await cases.get_endpoint(hub, viewer.principal, endpoint_id)
        return renderer_of(request).render(
            request,
            "webhooks/_secret.html",
            {"endpoint": found.endpoint, "secret": secret},
            viewer=viewer,
        )
    return await _detail(request, viewer, endpoint_id, secret=secret)


@action
async def rotate(request: Request, viewer: Viewer, _: FormData) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    try:
        secret = await cases.rotate_secret(
            hub_of(request), viewer.principal, endpoint_id, via="dashboard"
        )
    except RenkeiError as error:
        return await _after(request, viewer, error)
    gettext = renderer_of(request).gettext(request)
    note = gettext(
        "Secret rotated: give the new secret to the engineer. The old one keeps signing during the grace period."
    )
    return await _detail(request, viewer, endpoint_id, secret=secret, secret_note=note)


@action
async def send_test(request: Request, viewer: Viewer, form: FormData) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    event_type = str(form.get("event_type") or "")
    try:
        if not event_type:
            raise Invalid("choose an event type to send")
        result = await cases.send_test(hub_of(request), viewer.principal, endpoint_id, event_type)
    except RenkeiError as error:
        return await _after(request, viewer, error)
    explained = meaning(result.status_code, renderer_of(request).gettext(request))
    if request.headers.get("hx-request") == "true":
        return renderer_of(request).render(
            request,
            "webhooks/_test_result.html",
            {"result": result, "meaning": explained},
            viewer=viewer,
        )
    return await _detail(request, viewer, endpoint_id, result=result, meaning=explained)


@action
async def pause(request: Request, viewer: Viewer, _: FormData) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    try:
        await cases.pause_endpoint(hub_of(request), viewer.principal, endpoint_id, via="dashboard")
    except RenkeiError as error:
        return await _after(request, viewer, error)
    return RedirectResponse(f"/ui/webhooks/{endpoint_id}?notice=paused", 303)


@action
async def resume(request: Request, viewer: Viewer, _: FormData) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    try:
        await cases.resume_endpoint(hub_of(request), viewer.principal, endpoint_id, via="dashboard")
    except RenkeiError as error:
        return await _after(request, viewer, error)
    return RedirectResponse(f"/ui/webhooks/{endpoint_id}?notice=resumed", 303)


@page
async def confirm_delete(request: Request, viewer: Viewer) -> Response:
    found = await cases.get_endpoint(
        hub_of(request), viewer.principal, request.path_params["endpoint_id"]
    )
    return renderer_of(request).render(
        request, "webhooks/confirm_delete.html", {"endpoint": found.endpoint}, viewer=viewer
    )


@action
async def delete(request: Request, viewer: Viewer, _: FormData) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    try:
        await cases.delete_endpoint(hub_of(request), viewer.principal, endpoint_id, via="dashboard")
    except RenkeiError as error:
        return await _after(request, viewer, error)
    return RedirectResponse("/ui/webhooks?notice=deleted", 303)


@action
async def recover(request: Request, viewer: Viewer, form: FormData) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    try:
        try:
            given = datetime.fromisoformat(str(form.get("since") or ""))
        except ValueError as exc:
            raise Invalid("give the time to recover from, e.g. 2026-12-01T09:00") from exc
        # dashboard.js sends the viewer's local time as UTC ISO; without it, UTC as shown.
        since = given.replace(tzinfo=UTC) if given.tzinfo is None else given.astimezone(UTC)
        count = await cases.recover(
            hub_of(request), viewer.principal, endpoint_id, since=since, via="dashboard"
        )
    except RenkeiError as error:
        return await _after(request, viewer, error)
    gettext = renderer_of(request).gettext(request)
    notice = gettext("%(count)s failed deliveries queued again.")
    return await _detail(request, viewer, endpoint_id, notice=notice % {"count": count})


routes = [
    Route("/ui/webhooks", list_page, methods=["GET"]),
    Route("/ui/webhooks", create, methods=["POST"]),
    Route("/ui/webhooks/new", new_page, methods=["GET"]),
    Route("/ui/webhooks/{endpoint_id}", detail_page, methods=["GET"]),
    Route("/ui/webhooks/{endpoint_id}/secret", reveal, methods=["POST"]),
    Route("/ui/webhooks/{endpoint_id}/rotate", rotate, methods=["POST"]),
    Route("/ui/webhooks/{endpoint_id}/test", send_test, methods=["POST"]),
    Route("/ui/webhooks/{endpoint_id}/pause", pause, methods=["POST"]),
    Route("/ui/webhooks/{endpoint_id}/resume", resume, methods=["POST"]),
    Route("/ui/webhooks/{endpoint_id}/delete", confirm_delete, methods=["GET"]),
    Route("/ui/webhooks/{endpoint_id}/delete", delete, methods=["POST"]),
    Route("/ui/webhooks/{endpoint_id}/recover", recover, methods=["POST"]),
]
