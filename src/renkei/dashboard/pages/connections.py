"""``/ui/connections``: the connector catalog as cards, "Connect" with a form generated from
the connector's declared credentials and options (secret fields are password inputs, never
shown again), the connections with "Test connection", their rate limits and the day's
quota as gauges."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from renkei.connectors.catalog import format_limits
from renkei.dashboard.handlers import action, page, renderer_of
from renkei.dashboard.viewer import Viewer, hub_of
from renkei.errors import Invalid, RenkeiError
from renkei.usecases import connections as cases
from renkei.usecases import oauth as oauth_cases
from renkei.usecases.paging import MAX_LIMIT

PAGE_SIZE = 50
CREDENTIAL = "credentials."
OPTION = "config."
NOTICES = {
    "created": 'Connected. Press "Test connection" to check the credentials.',
    "connected": "Authorized at the vendor: the tokens are stored encrypted.",
}


def _entries(viewer: Viewer) -> list[dict[str, Any]]:
    return [
        {**entry, "limit_lines": format_limits(entry)}
        for entry in cases.catalog(viewer.principal, limit=MAX_LIMIT).items
    ]


async def _list(
    request: Request,
    viewer: Viewer,
    *,
    status: int = 200,
    tested: str | None = None,
    outcome: dict[str, Any] | None = None,
    error: RenkeiError | None = None,
) -> Response:
    hub = hub_of(request)
    listed = await cases.list_connections(
        hub, viewer.principal, limit=PAGE_SIZE, cursor=request.query_params.get("cursor")
    )
    rows = [
        {"connection": row, "usage": await cases.usage(hub, viewer.principal, row.id)}
        for row in listed.items
    ]
    if all(row.id != tested for row in listed.items):
        tested = None  # not on this page (or gone): a refusal is shown at the top
    key = request.query_params.get("notice", "")
    notice = renderer_of(request).gettext(request)(NOTICES[key]) if key in NOTICES else None
    return renderer_of(request).render(
        request,
        "connections/list.html",
        {
            "catalog": _entries(viewer),
            "oauth_connectors": oauth_cases.oauth_connectors(),
            "connections": rows,
            "next_cursor": listed.next_cursor,
            "notice": notice,
            "tested": tested,
            "outcome": outcome,
            "error": error,
        },
        viewer=viewer,
        status=status,
    )


@page
async def list_page(request: Request, viewer: Viewer) -> Response:
    return await _list(request, viewer)


async def _form(
    request: Request,
    viewer: Viewer,
    connector: str,
    form: FormData | None = None,
    error: RenkeiError | None = None,
) -> Response:
    entry = cases.connector_entry(viewer.principal, connector)
    # What was typed comes back, except secrets: a password field is never filled in.
    secret = {f"{CREDENTIAL}{f['name']}" for f in entry["credentials"] if f["secret"]}
    secret |= {f"{OPTION}{f['name']}" for f in entry["config"] if f["secret"]}
    kept = {key: str(value) for key, value in (form or FormData()).items() if key not in secret}
    return renderer_of(request).render(
        request,
        "connections/connect.html",
        {"entry": entry, "kept": kept, "error": error},
        viewer=viewer,
        status=error.status if error else 200,
    )


@page
async def connect_page(request: Request, viewer: Viewer) -> Response:
    return await _form(request, viewer, request.path_params["connector"])


def fields_of(form: FormData, entry: dict[str, Any]) -> dict[str, Any]:
    """The form as ``create_connection`` takes it: declared fields only, blanks left out
    (the connector's defaults apply), a required one missing refused here by its name."""
    name = str(form.get("name") or "").strip()
    if not name:
        raise Invalid("give the connection a name")
    values: dict[str, dict[str, str]] = {"credentials": {}, "config": {}}
    for group, prefix in (("credentials", CREDENTIAL), ("config", OPTION)):
        for declared in entry[group]:
            value = str(form.get(prefix + declared["name"]) or "").strip()
            if value:
                values[group][declared["name"]] = value
            elif declared["required"]:
                raise Invalid(f"{declared['name']} is required")
    limits: dict[str, Any] = {}
    quota = str(form.get("daily_quota") or "").strip().replace(",", "")
    if quota:
        if not quota.isdigit() or int(quota) < 1:
            raise Invalid("the daily quota must be a whole number of calls above 0")
        limits["daily_quota"] = {"calls": int(quota)}
    return {"name": name, **values, "limits": limits or None}


@action
async def create(request: Request, viewer: Viewer, form: FormData) -> Response:
    connector = str(form.get("connector") or "")
    entry = cases.connector_entry(viewer.principal, connector)
    try:
        row = await cases.create_connection(
            hub_of(request),
            viewer.principal,
            connector=connector,
            via="dashboard",
            **fields_of(form, entry),
        )
    except RenkeiError as error:
        return await _form(request, viewer, connector, form, error)
    return RedirectResponse(f"/ui/connections?notice=created#connection-{row.id}", 303)


@action
async def test(request: Request, viewer: Viewer, _: FormData) -> Response:
    ref = request.path_params["ref"]
    try:
        outcome = await cases.test_connection(
            hub_of(request), viewer.principal, ref, via="dashboard"
        )
    except RenkeiError as error:
        if request.headers.get("hx-request") == "true":
            # 200: htmx swaps no 4xx answer, and the refusal belongs beside the button.
            return renderer_of(request).render(
                request, "connections/_test_result.html", {"error": error}, viewer=viewer
            )
        return await _list(request, viewer, status=error.status, tested=ref, error=error)
    if request.headers.get("hx-request") == "true":
        return renderer_of(request).render(
            request, "connections/_test_result.html", {"outcome": outcome}, viewer=viewer
        )
    return await _list(request, viewer, tested=ref, outcome=outcome)


@action
async def authorize(request: Request, viewer: Viewer, _: FormData) -> Response:
    """OAuth connect: a link to the vendor's consent page, back through /oauth/callback."""
    try:
        started = await oauth_cases.start(
            hub_of(request),
            viewer.principal,
            request.path_params["ref"],
            request_base_url=str(request.base_url),
            via="dashboard",
        )
    except RenkeiError as error:
        return await _list(request, viewer, status=error.status, error=error)
    # A page with a link rather than a redirect: the dashboard's CSP (form-action 'self')
    # stops a form's POST from ending on another site, and the user sees where they go.
    authorize_url = str(started["authorize_url"])
    return renderer_of(request).render(
        request,
        "connections/authorize.html",
        {
            "authorize_url": authorize_url,
            "host": urlsplit(authorize_url).netloc,
            "name": started["connection"],
        },
        viewer=viewer,
    )


routes = [
    Route("/ui/connections", list_page, methods=["GET"]),
    Route("/ui/connections", create, methods=["POST"]),
    Route("/ui/connections/new/{connector}", connect_page, methods=["GET"]),
    Route("/ui/connections/{ref}/test", test, methods=["POST"]),
    Route("/ui/connections/{ref}/oauth", authorize, methods=["POST"]),
]
