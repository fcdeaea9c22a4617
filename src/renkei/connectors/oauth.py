"""OAuth connect: the authorize URL a user is sent to, the code exchanged for tokens at the
callback, and the auth strategy of a connection connected that way.

Tokens go into the connection's sealed credentials (``access_token``, ``refresh_token``,
``access_token_expires_at`` as Unix seconds); the OAuth app's ``client_id`` and
``client_secret`` are credentials of the connection too, so each connection may use its own
app. A refresh answered ``invalid_grant``, or a token that cannot be refreshed reaching its
end, raises :class:`GrantRevoked`: the runtime turns the connection to ``needs_reauth``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from renkei.clock import Clock
from renkei.connectors.auth import Auth, RefreshTokenAuth, Send, post_token_request
from renkei.connectors.errors import ConfigurationError, GrantRevoked
from renkei.connectors.oauth_provider import OAuthProvider
from renkei.connectors.spec import Connection, Field

__all__ = [
    "EXPIRES_AT",
    "OAUTH_CLIENT_FIELDS",
    "OAUTH_CONFIG_FIELDS",
    "ExpiringTokenAuth",
    "OAuthProvider",
    "Pkce",
    "Tokens",
    "authorize_url",
    "exchange_code",
    "oauth_refresh_auth",
    "token_url",
]

EXPIRES_AT = "access_token_expires_at"

OAUTH_CLIENT_FIELDS = (
    Field("client_id", "OAuth app client id (for Connect and token refresh)", required=False),
    Field("client_secret", "OAuth app client secret", secret=True, required=False),
    Field(
        "refresh_token",
        "OAuth refresh token (set by Connect, or given by hand)",
        secret=True,
        required=False,
    ),
    Field(
        EXPIRES_AT, "When the access token expires, Unix seconds (set by Connect)", required=False
    ),
)
OAUTH_CONFIG_FIELDS = (
    Field(
        "oauth_authorize_url", "Authorize URL for Connect (a sandbox's in tests)", required=False
    ),
    Field("oauth_token_url", "OAuth token endpoint (a sandbox's in tests)", required=False),
)


@dataclass(frozen=True)
class Pkce:
    """RFC 7636: a random verifier kept by us, its S256 challenge sent to the vendor."""

    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-]
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: float | None

    def credentials(self) -> dict[str, str]:
        values = {"access_token": self.access_token}
        if self.refresh_token:
            values["refresh_token"] = self.refresh_token
        if self.expires_at is not None:
            values[EXPIRES_AT] = f"{self.expires_at:.0f}"
        return values


def token_url(provider: OAuthProvider, config: Mapping[str, Any]) -> str:
    return str(
        config.get("oauth_token_url") or config.get("token_url") or provider.exchange_endpoint
    )


def authorize_url(
    provider: OAuthProvider,
    config: Mapping[str, Any],
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    pkce: Pkce | None,
) -> str:
    base = str(config.get("oauth_authorize_url") or provider.authorize_endpoint)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": provider.scope_separator.join(provider.scopes),
        "state": state,
        **provider.authorize_params,
    }
    if pkce is not None:
        params |= {"code_challenge": pkce.challenge, "code_challenge_method": "S256"}
    return f"{base}{'&' if '?' in base else '?'}{urlencode(params)}"


async def exchange_code(
    send: Send,
    provider: OAuthProvider,
    config: Mapping[str, Any],
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    verifier: str | None,
    clock: Clock,
) -> Tokens:
    """The authorization code for tokens; for a long-lived-token vendor (Meta), the code's
    short-lived token is exchanged at once for a long-lived one."""
    url = token_url(provider, config)
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        grant["code_verifier"] = verifier
    body = await post_token_request(
        send, url, client_id, client_secret, grant, style=provider.exchange_style, clock=clock
    )
    if provider.renewal == "long_lived":
        short = _access_token(body)
        body = await post_token_request(
            send,
            url,
            client_id,
            client_secret,
            {"grant_type": "fb_exchange_token", "fb_exchange_token": short},
            style=provider.exchange_style,
            clock=clock,
        )
    expires_in = body.get("expires_in")
    expires_at = (
        clock.time() + float(expires_in)
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
        else None
    )
    refresh = body.get("refresh_token")
    return Tokens(
        _access_token(body), refresh if isinstance(refresh, str) and refresh else None, expires_at
    )


def _access_token(body: Mapping[str, Any]) -> str:
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise ConfigurationError(
            "token endpoint answered without an access_token", code="invalid_token_response"
        )
    return token


def _expires_at(credentials: Mapping[str, str]) -> float | None:
    try:
        return float(credentials[EXPIRES_AT])
    except (KeyError, ValueError):
        return None


def oauth_refresh_auth(
    provider: OAuthProvider, connection: Connection, clock: Clock
) -> Auth | None:
    """The refresh-token strategy when the connection holds a refresh token and the OAuth
    client (the access token from Connect is used until shortly before it expires); None
    when it does not."""
    creds = connection.credentials
    if not (creds.get("refresh_token") and creds.get("client_id") and creds.get("client_secret")):
        return None
    return RefreshTokenAuth(
        token_url(provider, connection.config),
        creds["client_id"],
        creds["client_secret"],
        creds["refresh_token"],
        on_rotate=connection.rotation_callback("refresh_token"),
        style="basic" if provider.exchange_style == "basic" else "form",
        clock=clock,
        access_token=creds.get("access_token") or None,
        expires_at=_expires_at(creds),
    )


class ExpiringTokenAuth(Auth):
    """A token that cannot be refreshed (Meta's long-lived user token): used as ``inner``
    applies it until it expires, then every call raises GrantRevoked."""

    def __init__(self, inner: Auth, credentials: Mapping[str, str], clock: Clock) -> None:
        self._inner = inner
        self._expires_at = _expires_at(credentials)
        self._clock = clock

    async def apply(self, request: httpx.Request, send: Send) -> None:
        if self._expires_at is not None and self._clock.time() >= self._expires_at:
            raise GrantRevoked(
                "the OAuth access token expired and cannot be refreshed; connect again",
                code="token_expired",
            )
        await self._inner.apply(request, send)

    def secrets(self) -> tuple[str, ...]:
        return self._inner.secrets()
