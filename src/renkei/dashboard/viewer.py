"""Who is looking: the session cookie, its CSRF token, and what the viewer may do.

The cookie (``renkei_session``) holds a random value only (HttpOnly, ``SameSite=Strict``,
``Path=/ui``, expiring with the session). Every form and htmx action carries the session's
CSRF token (a hidden field or the ``X-CSRF-Token`` header), compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from renkei.hub import Hub
from renkei.security.sessions import csrf_token
from renkei.security.tokens import Principal, Scope, scope_allows
from renkei.usecases.sessions import principal_of_session

SESSION_COOKIE = "renkei_session"
SIGN_IN_COOKIE = "renkei_signin"  # double-submit CSRF token of the sign-in form
LANGUAGE_COOKIE = "renkei_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/ui"


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    session_id: str

    @property
    def csrf(self) -> str:
        return csrf_token(self.session_id)

    def can(self, scope: Scope) -> bool:
        return scope_allows(self.principal.scope, scope)


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def viewer_of(request: Request) -> Viewer | None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    principal = await principal_of_session(hub_of(request), session_id)
    return None if principal is None else Viewer(principal, session_id)


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(24)


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, expires: datetime | None
) -> None:
    response.set_cookie(
        name,
        value,
        expires=expires,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict")
