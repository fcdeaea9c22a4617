"""Marketo's Identity service: 2-legged OAuth with client credentials.

Asking for a token while one is still valid returns the same token with its remaining
lifespan (Authentication docs); an expired token answers 602, an unknown one 601.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from renkei.clock import Clock
from renkei.sandbox._common import Call, Counters, bearer_token
from renkei.sandbox.marketo.config import MarketoSandboxConfig


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float


class IdentityError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


class TokenStore:
    def __init__(self, config: MarketoSandboxConfig, clock: Clock, counters: Counters) -> None:
        self._config = config
        self._clock = clock
        self._counters = counters
        self._issued: dict[str, AccessToken] = {}
        self._current: AccessToken | None = None

    def grant(self, params: dict[str, str]) -> dict[str, Any]:
        """The Identity response for request parameters, or raises IdentityError."""
        grant_type = params.get("grant_type")
        if not grant_type:
            raise IdentityError(400, "invalid_request", "Missing grant type")
        if grant_type != "client_credentials":
            raise IdentityError(
                400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}"
            )
        if (params.get("client_id"), params.get("client_secret")) != (
            self._config.client_id,
            self._config.client_secret,
        ):
            raise IdentityError(401, "unauthorized", "Bad client credentials")
        token = self._valid_or_new()
        return {
            "access_token": token.value,
            "token_type": "bearer",
            "expires_in": int(token.expires_at - self._clock.time()),
            "scope": self._config.scope,
        }

    def _valid_or_new(self) -> AccessToken:
        now = self._clock.time()
        if self._current is not None and self._current.expires_at > now:
            return self._current
        token = AccessToken(f"{uuid.uuid4()}:sb", now + self._config.token_lifetime_seconds)
        self._issued[token.value] = token
        self._current = token
        self._counters.tokens_issued += 1
        return token

    def expire_all(self) -> None:
        """Expire every issued token now, as if an hour had passed for them."""
        now = self._clock.time()
        self._issued = {v: AccessToken(v, min(t.expires_at, now)) for v, t in self._issued.items()}
        self._current = None

    def check(self, call: Call) -> str | None:
        """None when the call carries a valid token, else the Marketo error code."""
        value = bearer_token(call)
        if value is None and self._config.allow_query_token:
            value = call.query.get("access_token") or None
        if value is None:
            return "600"
        token = self._issued.get(value)
        if token is None:
            return "601"
        if token.expires_at <= self._clock.time():
            return "602"
        return None
