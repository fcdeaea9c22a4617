"""A local Meta Conversions API: ``POST /{version}/{pixel_id}/events``, as Meta documents it.

- ``access_token`` in the query string, the body or ``Authorization: Bearer``; an unknown
  one is error 190 (``OAuthException``). An unknown pixel is error 100, subcode 33.
- ``data`` holds 1 to ``max_events`` (1,000) server events; more is a 400 and a violation.
- Each event needs ``event_name``, ``event_time`` (Unix seconds, not more than 7 days old,
  not in the future), a known ``action_source``, and ``user_data``; ``em``/``ph`` must be
  SHA-256 in lowercase hex; a Purchase needs ``custom_data.value`` and ``currency``. One
  invalid event rejects the whole request (400, code 100, a 2804xxx subcode naming the
  problem and the event's index) and nothing is kept.
- ``test_event_code`` routes events to ``test_events`` instead of ``events``; an event with
  the ``event_name`` and ``event_id`` of one already received is deduplicated.
- ``GET /{version}/{pixel_id}`` answers the pixel's id and name (the connector's test).
- An optional window of ``rate_limit`` calls per ``rate_window_seconds``; past it, error 4
  ("Application request limit reached") and a recorded violation.
- Facebook Login's manual flow: ``GET /{version}/dialog/oauth`` consents at once and
  redirects with a code; ``GET /{version}/oauth/access_token`` exchanges it (app id and
  secret in the query) for a short-lived user token, and ``grant_type=fb_exchange_token``
  that token for a long-lived one (60 days); no refresh token.

Subcodes are this sandbox's own, inside the 2804xxx range Meta uses for event errors.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from renkei.clock import Clock, SystemClock
from renkei.sandbox._base import BadBody, FixedWindow, VendorSandbox, json_body
from renkei.sandbox._common import Call, ViolationKind, bearer_token
from renkei.sandbox._oauth import OAuthServer

__all__ = [
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_APP_ID",
    "DEFAULT_APP_SECRET",
    "DEFAULT_PIXEL_ID",
    "MetaCapiSandbox",
    "MetaCapiSandboxConfig",
    "create_meta_capi_app",
]

DEFAULT_ACCESS_TOKEN = "EAAB-meta-capi-sandbox-token"
DEFAULT_PIXEL_ID = "1234567890123456"
DEFAULT_APP_ID = "100000000000001"
DEFAULT_APP_SECRET = "meta-sandbox-app-secret"
ACTION_SOURCES = frozenset(
    {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)
_HASH = re.compile(r"^[0-9a-f]{64}$")
_PATH = re.compile(r"^/(v\d+\.\d+)/(\d+)(/events)?$")
_LOGIN = re.compile(r"^/v\d+\.\d+/(dialog/oauth|oauth/access_token)$")
_SEVEN_DAYS = 7 * 86400


@dataclass(frozen=True)
class MetaCapiSandboxConfig:
    access_tokens: tuple[str, ...] = (DEFAULT_ACCESS_TOKEN,)
    pixel_ids: tuple[str, ...] = (DEFAULT_PIXEL_ID,)
    max_events: int = 1000
    rate_limit: int | None = None
    rate_window_seconds: float = 60.0
    app_id: str = DEFAULT_APP_ID
    app_secret: str = DEFAULT_APP_SECRET
    user_token_lifetime_seconds: float = 2 * 3600.0  # short-lived tokens: 1 to 2 hours
    long_lived_token_seconds: float = 60 * 86400.0


class MetaCapiSandbox(VendorSandbox[MetaCapiSandboxConfig]):
    def __init__(self, config: MetaCapiSandboxConfig, clock: Clock) -> None:
        super().__init__(config, clock)
        self.events: list[dict[str, Any]] = []
        self.test_events: dict[str, list[dict[str, Any]]] = {}
        self.deduplicated = 0
        self.event_requests = 0
        self._seen: set[tuple[str, str]] = set()
        self.oauth = OAuthServer(
            config.app_id,
            config.app_secret,
            clock,
            token_lifetime=config.user_token_lifetime_seconds,
            access_prefix="EAAG",
            long_lived_lifetime=config.long_lived_token_seconds,
        )
        self.window = (
            FixedWindow(config.rate_limit, config.rate_window_seconds)
            if config.rate_limit is not None
            else None
        )

    def connection_help(self, base_url: str) -> str:
        return (
            f"Meta Conversions API sandbox at {base_url}\n"
            f"  config: base_url={base_url} pixel_id={self.config.pixel_ids[0]}\n"
            f"  credentials: access_token={self.config.access_tokens[0]}"
        )

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return _error_body(4, "(#4) Application request limit reached", transient=True)
        return _error_body(1 if status >= 500 else 100, "injected fault", transient=status >= 500)

    async def handle(self, call: Call) -> Response:
        login = _LOGIN.match(call.path)
        if login is not None and call.method == "GET":
            if login.group(1) == "dialog/oauth":
                return self.oauth.authorize(dict(call.query))
            return self.oauth.token(dict(call.query), call.headers.get("authorization"))
        match = _PATH.match(call.path)
        if match is None:
            return _error(400, 100, "Unknown path components", subcode=2500)
        _version, pixel, events = match.groups()
        try:
            body = json_body(call) if call.body else {}
        except BadBody:
            return _error(400, 100, "The request body is not valid JSON")
        token = call.query.get("access_token") or bearer_token(call)
        if token is None and isinstance(body, dict):
            token = body.get("access_token")
        if token not in self.config.access_tokens and not self.oauth.valid(token):
            return _error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if self.window is not None:
            now = self.clock.time()
            if self.window.is_full(now):
                self.violate(ViolationKind.RATE_LIMIT, call.path, "over the window")
                return _error(400, 4, "(#4) Application request limit reached", transient=True)
            self.window.add(now)
        if pixel not in self.config.pixel_ids:
            return _error(
                400,
                100,
                f"Unsupported {call.method.lower()} request. Object with ID '{pixel}' does "
                "not exist, cannot be loaded due to missing permissions, or does not support "
                "this operation.",
                subcode=33,
            )
        await self.admitted()
        if not events:
            if call.method != "GET":
                return _error(400, 100, "Unsupported request")
            return JSONResponse({"id": pixel, "name": "Sandbox pixel"})
        if call.method != "POST":
            return _error(400, 100, "Unsupported request")
        self.event_requests += 1
        return self._events(call, body)

    def _events(self, call: Call, body: Any) -> Response:
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, str):  # form-encoded clients send data as a JSON string
            try:
                data = json.loads(data)
            except ValueError:
                data = None
        if not isinstance(data, list) or not data:
            return _error(400, 100, "The parameter data is required")
        if len(data) > self.config.max_events:
            self.violate(ViolationKind.BATCH_SIZE, "POST /events", f"{len(data)} events")
            return _error(400, 100, f"data: at most {self.config.max_events} events per request")
        now = self.clock.time()
        for index, event in enumerate(data):
            problem = _event_problem(event, now)
            if problem is not None:
                subcode, title, detail = problem
                return _error(
                    400,
                    100,
                    "Invalid parameter",
                    subcode=subcode,
                    user_title=title,
                    user_msg=f"{detail} (event {index})",
                )
        test_code = body.get("test_event_code") if isinstance(body, dict) else None
        for event in data:
            key = (str(event["event_name"]), str(event.get("event_id") or ""))
            if key[1] and key in self._seen:
                self.deduplicated += 1
                continue
            if key[1]:
                self._seen.add(key)
            if test_code:
                self.test_events.setdefault(str(test_code), []).append(event)
            else:
                self.events.append(event)
        return JSONResponse({"events_received": len(data), "messages": [], "fbtrace_id": _trace()})


def _event_problem(event: Any, now: float) -> tuple[int, str, str] | None:
    if not isinstance(event, dict):
        return (2804001, "Invalid event", "an event is a JSON object")
    if not isinstance(event.get("event_name"), str) or not event["event_name"]:
        return (2804002, "Missing event name", "event_name is required")
    when = event.get("event_time")
    if not isinstance(when, int) or isinstance(when, bool):
        return (2804003, "Invalid event time", "event_time must be a Unix timestamp in seconds")
    if when < now - _SEVEN_DAYS:
        return (2804004, "Event time too old", "event_time is more than 7 days in the past")
    if when > now + 60:
        return (2804005, "Event time in the future", "event_time is in the future")
    if event.get("action_source") not in ACTION_SOURCES:
        return (2804006, "Invalid action source", "action_source is missing or unknown")
    user = event.get("user_data")
    if not isinstance(user, dict) or not user:
        return (2804007, "Missing user data", "user_data is required")
    for key in ("em", "ph"):
        values = user.get(key)
        if values is None:
            continue
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(value, str) or not _HASH.match(value):
                return (
                    2804019,
                    "Invalid hashed user data",
                    f"user_data.{key} must be SHA-256 hashed (64 lowercase hex digits)",
                )
    if event["event_name"] == "Purchase":
        custom = event.get("custom_data")
        if not (
            isinstance(custom, dict)
            and isinstance(custom.get("value"), int | float)
            and isinstance(custom.get("currency"), str)
            and len(custom["currency"]) == 3
        ):
            return (
                2804020,
                "Missing purchase data",
                "a Purchase needs custom_data.value and custom_data.currency",
            )
    return None


def _trace() -> str:
    return "A" + secrets.token_urlsafe(16)


def _error_body(
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    transient: bool = False,
    user_title: str | None = None,
    user_msg: str | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "is_transient": transient,
        "fbtrace_id": _trace(),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if user_title is not None:
        error["error_user_title"] = user_title
    if user_msg is not None:
        error["error_user_msg"] = user_msg
    return {"error": error}


def _error(status: int, code: int, message: str, **kw: Any) -> Response:
    return JSONResponse(_error_body(code, message, **kw), status_code=status)


def create_meta_capi_app(
    config: MetaCapiSandboxConfig | None = None, clock: Clock | None = None
) -> MetaCapiSandbox:
    return MetaCapiSandbox(config or MetaCapiSandboxConfig(), clock or SystemClock())
