"""How a connection proves who it is: strategies applied to each outgoing ``httpx.Request``.

Static strategies (:class:`APIKeyAuth`, :class:`BearerAuth`, :class:`BasicAuth`) only set a
header or query parameter. The OAuth2 strategies fetch an access token through the ``send``
function the HTTP wrapper hands them (logged with secrets redacted, not rate limited: token
endpoints don't count against vendor limits), cache it until shortly before it expires, and
share one in-flight fetch between concurrent callers. When the vendor rejects a token, the
wrapper calls :meth:`Auth.invalidate` and retries the call once with a fresh one.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import httpx

from renkei.clock import Clock, SystemClock
from renkei.connectors.errors import (
    ConfigurationError,
    GrantRevoked,
    RateLimitedError,
    RetryableError,
)
from renkei.egress.retry_after import parse_retry_after

__all__ = [
    "APIKeyAuth",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "ClientCredentialsAuth",
    "NoAuth",
    "RefreshTokenAuth",
    "Send",
    "TokenStyle",
    "post_token_request",
]

Send = Callable[[httpx.Request], Awaitable[httpx.Response]]
TokenStyle = Literal["form", "basic", "query"]


class Auth:
    """Base strategy. Subclasses override :meth:`apply`, and the token-based ones the rest."""

    async def apply(self, request: httpx.Request, send: Send) -> None:
        """Add credentials to ``request``; ``send`` may be used to fetch a token first."""

    async def invalidate(self, request: httpx.Request) -> bool:
        """The vendor rejected the credentials ``request`` carried. Forget them if they can be
        renewed and return True (worth one retry); static credentials return False."""
        return False

    def secrets(self) -> tuple[str, ...]:
        """Every secret value this strategy holds, so logs and errors can scrub them."""
        return ()


class NoAuth(Auth):
    pass


class APIKeyAuth(Auth):
    """An API key in a header (``X-API-Key: k``, ``Authorization: Klaviyo-API-Key k``) or a
    query parameter (``?hapikey=k``)."""

    def __init__(
        self,
        key: str,
        *,
        name: str = "X-API-Key",
        location: Literal["header", "query"] = "header",
        prefix: str = "",
    ) -> None:
        self._key = key
        self._name = name
        self._location = location
        self._prefix = prefix

    async def apply(self, request: httpx.Request, send: Send) -> None:
        if self._location == "header":
            request.headers[self._name] = self._prefix + self._key
        else:
            request.url = request.url.copy_merge_params({self._name: self._key})

    def secrets(self) -> tuple[str, ...]:
        return (self._key,)


class BearerAuth(Auth):
    def __init__(self, token: str) -> None:
        self._token = token

    async def apply(self, request: httpx.Request, send: Send) -> None:
        request.headers["Authorization"] = f"Bearer {self._token}"

    def secrets(self) -> tuple[str, ...]:
        return (self._token,)


class BasicAuth(Auth):
    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password
        self._header = _basic(username, password)

    async def apply(self, request: httpx.Request, send: Send) -> None:
        request.headers["Authorization"] = self._header

    def secrets(self) -> tuple[str, ...]:
        return (self._password, self._header.removeprefix("Basic "))


class _OAuth2(Auth):
    """Token cache shared by the OAuth2 grants: one fetch at a time, reused until
    ``expires_in - margin`` (the margin shrinks to half the lifetime for short-lived tokens)."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        style: TokenStyle,
        margin: float,
        default_expires_in: float,
        clock: Clock | None,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._style = style
        self._margin = margin
        self._default_expires_in = default_expires_in
        self._clock = clock or SystemClock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def apply(self, request: httpx.Request, send: Send) -> None:
        request.headers["Authorization"] = f"Bearer {await self._access_token(send)}"

    async def invalidate(self, request: httpx.Request) -> bool:
        # Only the token the rejected request carried: when many calls fail with the same
        # expired token, the first invalidates it and the rest reuse the one fetch that follows.
        if self._token is not None and request.headers.get("Authorization") == (
            f"Bearer {self._token}"
        ):
            self._token = None
        return True

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._client_secret, self._token) if s)

    async def _access_token(self, send: Send) -> str:
        token = self._token
        if token is not None and self._clock.time() < self._expires_at:
            return token
        async with self._lock:
            if self._token is None or self._clock.time() >= self._expires_at:
                await self._fetch(send)
            assert self._token is not None
            return self._token

    async def _fetch(self, send: Send) -> None:
        body = await self._post_token_request(send, self._grant())
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ConfigurationError("token endpoint answered without an access_token")
        expires_in = _as_float(body.get("expires_in"), self._default_expires_in)
        self._token = token
        self._expires_at = self._clock.time() + max(expires_in - self._margin, expires_in / 2)
        await self._received(body)

    def _grant(self) -> dict[str, str]:
        raise NotImplementedError

    async def _received(self, body: Mapping[str, Any]) -> None:
        """Hook for grants that get more than an access token back."""

    async def _post_token_request(self, send: Send, grant: dict[str, str]) -> dict[str, Any]:
        return await post_token_request(
            send,
            self._token_url,
            self._client_id,
            self._client_secret,
            grant,
            style=self._style,
            clock=self._clock,
        )


class ClientCredentialsAuth(_OAuth2):
    """OAuth2 client-credentials grant. ``style`` says how the token request is sent:
    ``"form"`` POSTs client id and secret in a form body (most vendors), ``"basic"`` POSTs them
    as HTTP Basic, ``"query"`` GETs with everything in the query string (Marketo)."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        style: TokenStyle = "form",
        scope: str | None = None,
        margin: float = 60.0,
        default_expires_in: float = 3600.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            token_url,
            client_id,
            client_secret,
            style=style,
            margin=margin,
            default_expires_in=default_expires_in,
            clock=clock,
        )
        self._scope = scope

    def _grant(self) -> dict[str, str]:
        grant = {"grant_type": "client_credentials"}
        if self._scope:
            grant["scope"] = self._scope
        return grant


class RefreshTokenAuth(_OAuth2):
    """OAuth2 refresh-token grant. When the vendor rotates the refresh token, the new one is
    used from then on and handed to ``on_rotate`` so it can be persisted; if persisting fails
    the error propagates (the connection would otherwise be lost at the next restart)."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        on_rotate: Callable[[str], Awaitable[None]] | None = None,
        style: TokenStyle = "form",
        margin: float = 60.0,
        default_expires_in: float = 1800.0,
        clock: Clock | None = None,
        access_token: str | None = None,
        expires_at: float | None = None,
    ) -> None:
        super().__init__(
            token_url,
            client_id,
            client_secret,
            style=style,
            margin=margin,
            default_expires_in=default_expires_in,
            clock=clock,
        )
        self._refresh_token = refresh_token
        self._on_rotate = on_rotate
        if access_token and expires_at is not None:
            # A token obtained at Connect (or the last refresh), used until shortly before
            # it expires rather than refreshed on the first call.
            self._token = access_token
            self._expires_at = expires_at - margin

    def secrets(self) -> tuple[str, ...]:
        return (*super().secrets(), self._refresh_token)

    def _grant(self) -> dict[str, str]:
        return {"grant_type": "refresh_token", "refresh_token": self._refresh_token}

    async def _fetch(self, send: Send) -> None:
        try:
            await super()._fetch(send)
        except GrantRevoked:
            raise
        except ConfigurationError as exc:
            if exc.code != "invalid_grant":
                raise
            # RFC 6749 5.2: the refresh token is invalid, expired or revoked.
            raise GrantRevoked(
                "the OAuth grant was revoked or expired (token endpoint: invalid_grant); "
                "connect the connection again",
                code="invalid_grant",
                status_code=exc.status_code,
            ) from exc

    async def _received(self, body: Mapping[str, Any]) -> None:
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self._refresh_token:
            self._refresh_token = rotated
            if self._on_rotate is not None:
                await self._on_rotate(rotated)


async def post_token_request(
    send: Send,
    token_url: str,
    client_id: str,
    client_secret: str,
    grant: Mapping[str, str],
    *,
    style: TokenStyle = "form",
    clock: Clock,
) -> dict[str, Any]:
    """POST (or GET, ``style="query"``) one grant to a token endpoint with the client's
    credentials; the JSON answer, or the error of :func:`_token_response`."""
    headers = {"Accept": "application/json"}
    params: dict[str, str] = {"client_id": client_id, **grant}
    if style == "basic":
        params.pop("client_id")
        headers["Authorization"] = _basic(client_id, client_secret)
    else:
        params["client_secret"] = client_secret
    if style == "query":
        request = httpx.Request("GET", token_url, params=params, headers=headers)
    else:
        request = httpx.Request("POST", token_url, data=params, headers=headers)
    response = await send(request)
    return _token_response(response, clock)


def _token_response(response: httpx.Response, clock: Clock) -> dict[str, Any]:
    status = response.status_code
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), clock.now())
        raise RateLimitedError(
            "token endpoint is rate limiting", retry_after=retry_after, code="429", status_code=429
        )
    if status >= 500:
        raise RetryableError(
            f"token endpoint failed with HTTP {status}", code=str(status), status_code=status
        )
    body = _json_object(response)
    if status >= 300:
        # The OAuth2 error code ("invalid_client", "invalid_grant") is safe to show; the
        # description is left out since some servers echo the submitted values in it.
        error = body.get("error") if isinstance(body.get("error"), str) else None
        raise ConfigurationError(
            f"token endpoint refused the credentials (HTTP {status}"
            + (f", {error})" if error else ")"),
            code=error or str(status),
            status_code=status,
        )
    return body


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _as_float(value: object, default: float) -> float:
    if isinstance(value, int | float | str):
        try:
            return float(value)
        except ValueError:
            pass
    return default


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
