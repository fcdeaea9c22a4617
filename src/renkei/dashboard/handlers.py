"""How a page's handler is called: signed in or sent to sign in, forms checked for their
CSRF token, and :class:`~renkei.errors.RenkeiError` shown on the page with its status.

htmx swaps nothing on a 4xx answer and follows a redirect inside its target, so a request
htmx made (``HX-Request: true``) is answered in its terms: a refusal is a 200 whose alert
goes to the page's shared ``#htmx-error`` region (``HX-Retarget``), and an ended session
sends the whole browser to sign in (``HX-Redirect``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from renkei.dashboard.rendering import Renderer
from renkei.dashboard.viewer import CSRF_FIELD, CSRF_HEADER, Viewer, same_token, viewer_of
from renkei.errors import Forbidden, RenkeiError

MAX_FORM_BYTES = 64 * 1024

PageHandler = Callable[[Request, Viewer], Awaitable[Response]]
ActionHandler = Callable[[Request, Viewer, FormData], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class FormTooLarge(RenkeiError):
    status = 413
    default_code = "body_too_large"


def renderer_of(request: Request) -> Renderer:
    renderer: Renderer = request.app.state.renderer
    return renderer


def from_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def error_page(request: Request, error: RenkeiError, viewer: Viewer | None) -> Response:
    if from_htmx(request):
        response = renderer_of(request).render(
            request, "_htmx_error.html", {"error": error}, viewer=viewer
        )
        response.headers["HX-Retarget"] = "#htmx-error"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return renderer_of(request).render(
        request, "error.html", {"error": error}, viewer=viewer, status=error.status
    )


def to_sign_in(request: Request) -> Response:
    """Sign in, then back here: for htmx, back to the page it was polling from (its
    ``HX-Current-URL``), not to the fragment it asked for."""
    path = request.url.path
    if from_htmx(request):
        current = urlsplit(request.headers.get("hx-current-url", "")).path
        path = current if current.startswith("/ui/") else "/ui/"
        return Response(headers={"HX-Redirect": f"/ui/login?next={quote(path)}"})
    return RedirectResponse(f"/ui/login?next={quote(path)}", 303)


async def read_form(request: Request) -> FormData:
    """A urlencoded form body (the only kind the pages send), at most 64 KiB."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge("this form is too large")
    fields: list[tuple[str, str | UploadFile]] = list(
        parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    )
    return FormData(fields)


def page(handler: PageHandler) -> Endpoint:
    """A page to look at: anyone signed in; the others are sent to sign in first."""

    async def endpoint(request: Request) -> Response:
        viewer = await viewer_of(request)
        if viewer is None:
            return to_sign_in(request)
        try:
            return await handler(request, viewer)
        except RenkeiError as error:
            return error_page(request, error, viewer)

    return endpoint


def action(handler: ActionHandler) -> Endpoint:
    """A form's POST: signed in and carrying the session's CSRF token, or refused (403)."""

    async def endpoint(request: Request) -> Response:
        viewer = await viewer_of(request)
        if viewer is None and from_htmx(request):
            return to_sign_in(request)
        try:
            if viewer is None:
                raise Forbidden("your session has ended: sign in again")
            form = await read_form(request)
            given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
            if not same_token(str(given) if given else None, viewer.csrf):
                raise Forbidden(
                    "this form did not come from this dashboard (missing or wrong CSRF token): "
                    "reload the page and try again",
                    code="csrf_failed",
                )
            return await handler(request, viewer, form)
        except RenkeiError as error:
            return error_page(request, error, viewer)

    return endpoint
