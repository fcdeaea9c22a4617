"""An OAuth 2.0 authorization server for vendor sandboxes (RFC 6749, PKCE RFC 7636,
revocation RFC 7009): the consent step approves at once and redirects back with a code,
the code is exchanged once (with its PKCE verifier) for an access and a refresh token,
refresh tokens mint access tokens, and revoking a refresh token revokes its access tokens.

A sandbox routes its vendor's paths to :meth:`authorize`, :meth:`token` and
:meth:`revoke`, and asks :meth:`valid` about each bearer token it receives.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from starlette.responses import JSONResponse, RedirectResponse, Response

from renkei.clock import Clock

__all__ = ["OAuthServer"]

_CODE_LIFETIME = 600.0


@dataclass
class _Grant:
    redirect_uri: str
    scope: str
    challenge: str | None
    method: str
    expires_at: float


@dataclass
class OAuthServer:
    client_id: str
    client_secret: str
    clock: Clock
    token_lifetime: float = 3599.0
    access_prefix: str = "sandbox-"
    refresh_tokens: set[str] = field(default_factory=set)
    # Meta's fb_exchange_token grant (a long-lived token) when set; None: not offered.
    long_lived_lifetime: float | None = None
    issued: int = 0
    _access: dict[str, tuple[float, str | None]] = field(default_factory=dict)
    _codes: dict[str, _Grant] = field(default_factory=dict)

    # --- what the resource endpoints ask -----------------------------------------------

    def valid(self, token: str | None) -> bool:
        if token is None or token not in self._access:
            return False
        expires_at, _ = self._access[token]
        return self.clock.time() < expires_at

    def add_static(self, token: str) -> None:
        """An access token that never expires (for quick trials)."""
        self._access[token] = (float("inf"), None)

    def forget_access_tokens(self) -> None:
        """Every access token stops working (as after a vendor-side reset)."""
        self._access.clear()

    # --- endpoints ---------------------------------------------------------------------

    def authorize(self, query: Mapping[str, str]) -> Response:
        """The consent page: approves at once and redirects with ``code`` and ``state``."""
        if query.get("client_id") != self.client_id:
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        redirect = query.get("redirect_uri", "")
        if urlsplit(redirect).scheme not in ("http", "https"):
            return JSONResponse(
                {"error": "invalid_request", "error_description": "redirect_uri"}, 400
            )
        params: dict[str, str] = {}
        if state := query.get("state"):
            params["state"] = state
        method = query.get("code_challenge_method", "plain")
        if query.get("response_type") != "code":
            params["error"] = "unsupported_response_type"
        elif method not in ("S256", "plain"):
            params["error"] = "invalid_request"
        else:
            code = "sandbox-code-" + secrets.token_urlsafe(12)
            self._codes[code] = _Grant(
                redirect,
                query.get("scope", ""),
                query.get("code_challenge"),
                method,
                self.clock.time() + _CODE_LIFETIME,
            )
            params["code"] = code
        separator = "&" if "?" in redirect else "?"
        return RedirectResponse(f"{redirect}{separator}{urlencode(params)}", status_code=302)

    def token(self, form: Mapping[str, str], authorization: str | None = None) -> Response:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization[6:]).decode("utf-8", "replace")
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return _error(401, "invalid_client")
        grant = form.get("grant_type")
        if grant == "refresh_token":
            refresh = form.get("refresh_token")
            if refresh not in self.refresh_tokens:
                return _error(400, "invalid_grant", "the refresh token is revoked or unknown")
            return JSONResponse(self._issue(refresh, with_refresh=False))
        if grant == "authorization_code":
            return self._exchange(form)
        if grant == "fb_exchange_token" and self.long_lived_lifetime is not None:
            # Meta: a live short-lived user token for a long-lived one, no refresh token.
            short = form.get("fb_exchange_token")
            if not self.valid(short):
                return _error(400, "invalid_grant", "the token to exchange is not valid")
            _, parent = self._access[str(short)]
            return JSONResponse(self._issue(parent, with_refresh=False, long_lived=True))
        return _error(400, "unsupported_grant_type")

    def revoke(self, token: str | None) -> Response:
        if token in self.refresh_tokens:
            self.refresh_tokens.discard(token)
            for access, (_, parent) in list(self._access.items()):
                if parent == token:
                    del self._access[access]
            return JSONResponse({})
        if token is not None and token in self._access:
            del self._access[token]
            return JSONResponse({})
        return _error(400, "invalid_token")

    # --- helpers -----------------------------------------------------------------------

    def _exchange(self, form: Mapping[str, str]) -> Response:
        grant = self._codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or self.clock.time() >= grant.expires_at:
            return _error(400, "invalid_grant", "the code is unknown, used or expired")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _error(400, "invalid_grant", "redirect_uri differs from the authorization")
        if grant.challenge is not None:
            verifier = form.get("code_verifier", "")
            if grant.method == "S256":
                digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
                computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            else:
                computed = verifier
            if not verifier or not secrets.compare_digest(computed, grant.challenge):
                return _error(400, "invalid_grant", "the PKCE code_verifier does not match")
        refresh = "1//sandbox-refresh-" + secrets.token_urlsafe(16)
        self.refresh_tokens.add(refresh)
        return JSONResponse({**self._issue(refresh, with_refresh=True), "scope": grant.scope})

    def _issue(
        self, refresh: str | None, *, with_refresh: bool, long_lived: bool = False
    ) -> dict[str, object]:
        token = self.access_prefix + secrets.token_urlsafe(16)
        lifetime = self.long_lived_lifetime if long_lived else None
        lifetime = lifetime if lifetime is not None else self.token_lifetime
        self._access[token] = (self.clock.time() + lifetime, refresh)
        self.issued += 1
        body: dict[str, object] = {
            "access_token": token,
            "expires_in": int(lifetime),
            "token_type": "Bearer",
        }
        if with_refresh and refresh is not None:
            body["refresh_token"] = refresh
        return body


def _error(status: int, error: str, description: str | None = None) -> Response:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return JSONResponse(body, status_code=status)
