"""``/ui/login``: sign in with an API token; ``/ui/logout``; ``/ui/language``: the switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from renkei.dashboard.handlers import action, read_form, renderer_of
from renkei.dashboard.viewer import (
    CSRF_FIELD,
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    Viewer,
    clear_cookie,
    hub_of,
    new_sign_in_token,
    same_token,
    set_cookie,
    viewer_of,
)
from renkei.errors import Forbidden, RenkeiError
from renkei.usecases.sessions import sign_in, sign_out


def _next_page(value: object) -> str:
    """Where to go after signing in: a dashboard page, never another site."""
    target = str(value or "")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/ui/") or "\\" in target:
        return "/ui/"
    return target


def _form(
    request: Request, *, error: RenkeiError | None = None, next_page: str = "/ui/"
) -> Response:
    token = new_sign_in_token()
    response = renderer_of(request).render(
        request,
        "login.html",
        {"sign_in_token": token, "error": error, "next": next_page, "csrf_name": CSRF_FIELD},
        status=error.status if error else 200,
    )
    set_cookie(request, response, SIGN_IN_COOKIE, token, expires=None)
    return response


async def login_page(request: Request) -> Response:
    if await viewer_of(request) is not None:
        return RedirectResponse("/ui/", 303)
    return _form(request, next_page=_next_page(request.query_params.get("next")))


async def login(request: Request) -> Response:
    next_page = "/ui/"
    try:
        form = await read_form(request)
        next_page = _next_page(form.get("next"))
        given = form.get(CSRF_FIELD)
        if not same_token(
            str(given) if given else None, request.cookies.get(SIGN_IN_COOKIE, "") or "-"
        ):
            raise Forbidden(
                "this form did not come from this dashboard (missing or wrong CSRF token): "
                "reload the page and try again",
                code="csrf_failed",
            )
        signed_in = await sign_in(hub_of(request), str(form.get("token") or ""))
    except RenkeiError as error:
        return _form(request, error=error, next_page=next_page)
    response = RedirectResponse(next_page, 303)
    set_cookie(
        request, response, SESSION_COOKIE, signed_in.session_id, expires=signed_in.expires_at
    )
    clear_cookie(response, SIGN_IN_COOKIE)
    return response


@action
async def logout(request: Request, viewer: Viewer, _: FormData) -> Response:
    await sign_out(hub_of(request), viewer.session_id, viewer.principal)
    response = RedirectResponse("/ui/login", 303)
    clear_cookie(response, SESSION_COOKIE)
    return response


async def language(request: Request) -> Response:
    """The language switch (a GET form: it changes what is shown, nothing stored)."""
    chosen = request.query_params.get("lang", "")
    response = RedirectResponse(_next_page(request.query_params.get("next")), 303)
    if chosen in renderer_of(request).catalogs.languages:
        set_cookie(request, response, LANGUAGE_COOKIE, chosen, expires=None)
    return response


routes = [
    Route("/ui/login", login_page, methods=["GET"]),
    Route("/ui/login", login, methods=["POST"]),
    Route("/ui/logout", logout, methods=["POST"]),
    Route("/ui/language", language, methods=["GET"]),
]
