"""``/ui/event-types``: the catalog of what may be published, with each type's description,
JSON Schema and example; create and edit (write scope: read tokens see no buttons, and the
use case refuses them anyway)."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from renkei.dashboard.formatting import FORMATS, pretty
from renkei.dashboard.handlers import action, page, renderer_of
from renkei.dashboard.viewer import Viewer, hub_of
from renkei.errors import Invalid, RenkeiError
from renkei.usecases import webhooks as cases

PAGE_SIZE = 50
NOTICES = {"created": "Event type created.", "saved": "Event type saved."}


def _json_field(form: FormData, field: str, label: str) -> Any:
    text = str(form.get(field) or "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise Invalid(f"the {label} is not valid JSON: {exc}") from exc


def _fields(form: FormData) -> dict[str, Any]:
    schema = _json_field(form, "schema", "schema")
    if schema is not None and not isinstance(schema, dict):
        raise Invalid("the schema must be a JSON object (a JSON Schema)")
    return {
        "description": str(form.get("description") or "").strip(),
        "schema": schema,
        "example": _json_field(form, "example", "example"),
    }


@page
async def list_page(request: Request, viewer: Viewer) -> Response:
    listed = await cases.list_event_types(
        hub_of(request),
        viewer.principal,
        limit=PAGE_SIZE,
        cursor=request.query_params.get("cursor"),
    )
    key = request.query_params.get("notice", "")
    notice = renderer_of(request).gettext(request)(NOTICES[key]) if key in NOTICES else None
    return renderer_of(request).render(
        request,
        "event_types/list.html",
        {
            "event_types": listed.items,
            "next_cursor": listed.next_cursor,
            "notice": notice,
            **FORMATS,
        },
        viewer=viewer,
    )


def _form(
    request: Request,
    viewer: Viewer,
    values: dict[str, str],
    *,
    editing: str | None,
    error: RenkeiError | None = None,
) -> Response:
    return renderer_of(request).render(
        request,
        "event_types/form.html",
        {"values": values, "editing": editing, "error": error},
        viewer=viewer,
        status=error.status if error else 200,
    )


def _typed(form: FormData) -> dict[str, str]:
    fields = ("name", "description", "schema", "example")
    return {name: str(form.get(name) or "") for name in fields}


@page
async def new_page(request: Request, viewer: Viewer) -> Response:
    return _form(request, viewer, {}, editing=None)


@action
async def create(request: Request, viewer: Viewer, form: FormData) -> Response:
    name = str(form.get("name") or "").strip()
    try:
        if not name:
            raise Invalid("give the event type a name, e.g. order.completed")
        await cases.create_event_type(
            hub_of(request), viewer.principal, name=name, **_fields(form), via="dashboard"
        )
    except RenkeiError as error:
        return _form(request, viewer, _typed(form), editing=None, error=error)
    return RedirectResponse("/ui/event-types?notice=created", 303)


@page
async def edit_page(request: Request, viewer: Viewer) -> Response:
    kind = await cases.get_event_type(
        hub_of(request), viewer.principal, request.path_params["name"]
    )
    values = {
        "name": kind.name,
        "description": kind.description,
        "schema": pretty(kind.schema),
        "example": pretty(kind.example),
    }
    return _form(request, viewer, values, editing=kind.name)


@action
async def save(request: Request, viewer: Viewer, form: FormData) -> Response:
    name = request.path_params["name"]
    try:
        await cases.update_event_type(
            hub_of(request), viewer.principal, name, _fields(form), via="dashboard"
        )
    except RenkeiError as error:
        return _form(request, viewer, {**_typed(form), "name": name}, editing=name, error=error)
    return RedirectResponse("/ui/event-types?notice=saved", 303)


routes = [
    Route("/ui/event-types", list_page, methods=["GET"]),
    Route("/ui/event-types", create, methods=["POST"]),
    Route("/ui/event-types/new", new_page, methods=["GET"]),
    Route("/ui/event-types/{name}", edit_page, methods=["GET"]),
    Route("/ui/event-types/{name}", save, methods=["POST"]),
]
