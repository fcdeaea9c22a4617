"""Meta Conversions API (Facebook and Instagram ads): server events for a pixel (dataset).

Contract (developers.facebook.com/docs/marketing-api/conversions-api):

- ``POST https://graph.facebook.com/{api_version}/{pixel_id}/events`` with
  ``access_token`` and a body ``{"data": [server events], "test_event_code"?}``; up to
  1,000 events in ``data``. An event has ``event_name``, ``event_time`` (Unix seconds, at
  most 7 days old), ``action_source`` and ``user_data`` whose ``em`` and ``ph`` are SHA-256
  of the normalised email (trimmed, lowercased) and phone (digits only, country code
  included). ``custom_data`` carries ``value`` and ``currency`` (required for a Purchase).
- The answer is ``{"events_received": n, "messages": [], "fbtrace_id"}``. If any event is
  invalid, the whole request is rejected (HTTP 400, ``{"error": {"code": 100,
  "error_subcode", "message", "error_user_msg", "fbtrace_id"}}``) and no event is kept.
  This connector then splits the batch in halves until the invalid events stand alone, so
  one bad event fails by itself and the others are delivered.
- Error 190 is a refused access token; 4, 17, 32, 613 and 80000-80014 are rate limits;
  ``is_transient`` errors are retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from renkei.clock import Clock
from renkei.connectors._ads import error_object, unix_seconds
from renkei.connectors._vendor import run_chunks
from renkei.connectors.auth import APIKeyAuth, Auth
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    RateLimitedError,
    RecordError,
    RetryableError,
)
from renkei.connectors.oauth import (
    OAUTH_CLIENT_FIELDS,
    OAUTH_CONFIG_FIELDS,
    ExpiringTokenAuth,
    OAuthProvider,
)
from renkei.connectors.spec import (
    CallContext,
    Connection,
    Connector,
    ConnectorSpec,
    Field,
    Operation,
    OperationResult,
    RecordOk,
    RecordResult,
)
from renkei.egress.retry_after import parse_retry_after
from renkei.expr.identifiers import hash_email, hash_phone

__all__ = ["ACTION_SOURCES", "EVENTS_PER_REQUEST", "MetaConversionsConnector"]

EVENTS_PER_REQUEST = 1000
ACTION_SOURCES = (
    "email",
    "website",
    "app",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
)
_THROTTLED = frozenset({4, 17, 32, 613, *range(80000, 80015)})
_AUTH_CODES = frozenset({102, 190})
_PERMISSION_CODES = frozenset({10, *range(200, 300)})
_HASHED_LIST: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "minLength": 1},
        {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
    ]
}
SERVER_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["event_name", "event_time", "action_source", "user_data"],
    "properties": {
        "event_name": {"type": "string", "minLength": 1},
        "event_time": {
            "type": ["integer", "string"],
            "description": "Unix seconds or ISO 8601; sent as Unix seconds",
        },
        "action_source": {"enum": list(ACTION_SOURCES)},
        "event_id": {"type": "string", "minLength": 1},
        "event_source_url": {"type": "string"},
        "opt_out": {"type": "boolean"},
        "user_data": {
            "type": "object",
            "minProperties": 1,
            "properties": {
                "em": {**_HASHED_LIST, "description": "emails: plain (hashed here) or SHA-256"},
                "ph": {**_HASHED_LIST, "description": "phones: E.164 (hashed here) or SHA-256"},
                "external_id": _HASHED_LIST,
                "client_ip_address": {"type": "string"},
                "client_user_agent": {"type": "string"},
                "fbc": {"type": "string"},
                "fbp": {"type": "string"},
            },
        },
        "custom_data": {"type": "object"},
        "data_processing_options": {"type": "array", "items": {"type": "string"}},
    },
}


class MetaConversionsConnector(Connector):
    # developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow and
    # .../guides/access-tokens/get-long-lived: the code is exchanged with a GET on
    # /oauth/access_token, the short-lived token then for a long-lived one
    # (grant_type=fb_exchange_token); no refresh token. PKCE exists only in the OIDC flow
    # Meta marks as "in testing", so it is not used.
    oauth = OAuthProvider(
        authorize_endpoint="https://www.facebook.com/v24.0/dialog/oauth",
        exchange_endpoint="https://graph.facebook.com/v24.0/oauth/access_token",
        scopes=("ads_management", "business_management"),
        pkce=False,
        scope_separator=",",
        renewal="long_lived",
        exchange_style="query",
    )
    spec = ConnectorSpec(
        name="meta_capi",
        title="Meta Conversions API",
        docs_url="https://developers.facebook.com/docs/marketing-api/conversions-api",
        credentials=(
            Field(
                "access_token",
                "Conversions API access token (Events Manager or a system user); or leave it "
                "out and Connect (a long-lived user token, about 60 days)",
                secret=True,
                required=False,
            ),
            *OAUTH_CLIENT_FIELDS,
        ),
        config=(
            Field("pixel_id", "Pixel (dataset) id the events belong to"),
            Field("api_version", "Graph API version", required=False, default="v24.0"),
            Field(
                "default_phone_country_code",
                "Country calling code for phone numbers written without one (e.g. 81)",
                required=False,
            ),
            Field(
                "test_event_code",
                "Events Manager test event code: events show in Test Events, not in reports",
                required=False,
            ),
            Field(
                "base_url",
                "Graph API host (a sandbox's URL in tests)",
                required=False,
                default="https://graph.facebook.com",
            ),
            *OAUTH_CONFIG_FIELDS,
        ),
        operations=(
            Operation(
                "send_events",
                "Server events (Purchase, Lead, ...) with user data; em and ph are "
                "normalised and SHA-256 hashed here unless already hashed; up to 1,000 per "
                "request, and an invalid event fails alone.",
                SERVER_EVENT,
                batchable=True,
                max_batch_size=EVENTS_PER_REQUEST,
                # Meta deduplicates on event_name + event_id: a batch resent after a
                # timeout is not counted twice.
                id_field="event_id",
            ),
        ),
    )
    limits_notes: ClassVar[tuple[str, ...]] = (
        "1,000 events per request; event_time at most 7 days old",
        "One invalid event rejects the whole request: the batch is split until it stands alone",
        "Throttling (error codes 4, 17, 32, 613, 80000-80014) is retried after a backoff",
    )

    def base_url(self, config: Mapping[str, Any]) -> str:
        return f"{str(config['base_url']).rstrip('/')}/{config['api_version']}"

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        token = connection.credentials.get("access_token")
        if not token:
            raise ConfigurationError(
                "meta_capi: give access_token or Connect with OAuth", code="not_connected"
            )
        # A token from Connect carries its end (Meta issues no refresh token): past it the
        # connection needs the user to connect again. A system user's token has no end.
        return ExpiringTokenAuth(
            APIKeyAuth(token, name="access_token", location="query"),
            connection.credentials,
            clock,
        )

    def classify(self, response: httpx.Response, now: datetime) -> ConnectorError | None:
        status = response.status_code
        if status < 300:
            return None
        error = error_object(response)
        code = error.get("code") if isinstance(error.get("code"), int) else None
        subcode = error.get("error_subcode")
        detail = error.get("error_user_msg") or error.get("message") or ""
        label = f"{code}" + (f"/{subcode}" if subcode else "") if code is not None else str(status)
        message = f"HTTP {status} from Meta ({label}): {str(detail)[:300]}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
        if status == 429 or code in _THROTTLED:
            return RateLimitedError(
                message, retry_after=retry_after, code=label, status_code=status
            )
        if code in _AUTH_CODES or status == 401:
            return ConfigurationError(message, code=label, status_code=status)
        if code in _PERMISSION_CODES or status == 403:
            return ConfigurationError(message, code=label, status_code=status)
        if error.get("is_transient") is True or code in (1, 2) or status >= 500 or status == 408:
            return RetryableError(message, retry_after=retry_after, code=label, status_code=status)
        return PermanentError(message, code=label, status_code=status)

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        """``GET /{pixel_id}``: proves the token may use the pixel, sends no event."""
        pixel = str(ctx.config["pixel_id"])
        response = await ctx.http.request(
            "GET", f"/{pixel}", operation="test", params={"fields": "id,name"}
        )
        body = response.json()
        return {"pixel_id": body.get("id", pixel), "name": body.get("name")}

    async def send_events(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        results: dict[int, RecordResult] = {}
        events: dict[int, dict[str, Any]] = {}
        for index, record in enumerate(records):
            try:
                events[index] = _server_event(record, ctx.config.get("default_phone_country_code"))
            except ValueError as exc:
                results[index] = RecordError(index, "invalid_input", str(exc))
        valid = sorted(events)
        chunks = [
            valid[start : start + EVENTS_PER_REQUEST]
            for start in range(0, len(valid), EVENTS_PER_REQUEST)
        ]
        pixel = str(ctx.config["pixel_id"])
        test_code = ctx.config.get("test_event_code")
        requests = 0

        async def post(chunk: Sequence[int]) -> dict[int, RecordResult]:
            nonlocal requests
            body: dict[str, Any] = {"data": [events[i] for i in chunk]}
            if test_code:
                body["test_event_code"] = test_code
            requests += 1
            response = await ctx.http.request(
                "POST", f"/{pixel}/events", operation="send_events", json=body
            )
            received = response.json().get("events_received")
            status = "received" if received == len(chunk) else "sent"
            return {i: RecordOk(i, status=status) for i in chunk}

        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            """The chunk, or, when Meta rejects it for an invalid event, each half."""
            try:
                return await post(chunk)
            except ConfigurationError:
                raise
            except PermanentError as exc:
                if len(chunk) == 1 or not _about_one_event(exc):
                    return {i: RecordError(i, exc.code or "rejected", exc.message) for i in chunk}
                middle = len(chunk) // 2
                halves = [chunk[:middle], chunk[middle:]]
                return await run_chunks(halves, send)

        results.update(await run_chunks(chunks, send))
        return OperationResult(
            records=tuple(results[i] for i in sorted(results)), data={"requests": requests}
        )


def _about_one_event(exc: PermanentError) -> bool:
    """Whether Meta rejected the request for an event's content (subcodes 2804xxx, the
    Conversions API's event errors) rather than for the request as a whole (a wrong pixel
    id is worth no split: every half would fail the same way)."""
    _, _, subcode = (exc.code or "").partition("/")
    return subcode.startswith("2804") and len(subcode) == 7


def _server_event(record: Mapping[str, Any], country: Any = None) -> dict[str, Any]:
    event = dict(record)
    event["event_time"] = unix_seconds(record["event_time"])
    user = dict(record["user_data"])
    if "em" in user:
        user["em"] = [hash_email(v, "meta") for v in _strings(user["em"])]
    if "ph" in user:
        code = str(country) if country not in (None, "") else None
        user["ph"] = [
            hash_phone(v, "meta", default_country_code=code) for v in _strings(user["ph"])
        ]
    event["user_data"] = user
    return event


def _strings(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]
