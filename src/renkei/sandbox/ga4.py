"""A local GA4 Measurement Protocol endpoint, as Google documents it.

- ``POST /mp/collect?measurement_id=&api_secret=``: always answers 204, as GA4 does (it
  answers 2xx even for what it drops). What it drops is counted in ``dropped`` with the
  reason, and what it keeps is in ``events``: an unknown measurement id or API secret, a
  body without ``client_id``, more than 25 events (also a ``batch_size`` violation), a body
  of 130 kB or more (a violation too), and each event that breaks a naming or size rule.
- ``POST /debug/mp/collect``: the validation server. The same checks, answered as
  ``{"validationMessages": [{"fieldPath", "description", "validationCode"}]}`` (codes
  ``VALUE_INVALID``, ``VALUE_REQUIRED``, ``NAME_INVALID``, ``NAME_RESERVED``,
  ``VALUE_OUT_OF_BOUNDS``, ``EXCEEDED_MAX_ENTITIES``); nothing is recorded. Like Google's,
  it does not check the API secret.

    sandbox = create_ga4_app(GA4SandboxConfig(), clock)
    with serve_in_thread(sandbox.app) as base_url:   # the connection's base_url
        ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from renkei.clock import Clock, SystemClock
from renkei.sandbox._base import BadBody, VendorSandbox, json_body
from renkei.sandbox._common import Call, ViolationKind

__all__ = [
    "DEFAULT_API_SECRET",
    "DEFAULT_MEASUREMENT_ID",
    "GA4Sandbox",
    "GA4SandboxConfig",
    "create_ga4_app",
]

DEFAULT_MEASUREMENT_ID = "G-SANDBOX01"
DEFAULT_API_SECRET = "ga4-sandbox-secret-0000"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RESERVED_EVENTS = frozenset(
    {
        "ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure",
        "app_clear_data", "app_exception", "app_install", "app_remove", "app_store_refund",
        "app_update", "app_upgrade", "dynamic_link_app_open", "dynamic_link_app_update",
        "dynamic_link_first_open", "error", "firebase_campaign",
        "firebase_in_app_message_action", "firebase_in_app_message_dismiss",
        "firebase_in_app_message_impression", "first_open", "first_visit", "in_app_purchase",
        "notification_dismiss", "notification_foreground", "notification_open",
        "notification_receive", "notification_send", "os_update", "screen_view",
        "session_start", "user_engagement",
    }
)  # fmt: skip
_RESERVED_USER_PROPERTIES = frozenset(
    {"first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id",
     "first_open_after_install"}
)  # fmt: skip
_PREFIXES = ("google_", "ga_", "firebase_")

Message = dict[str, str]


@dataclass(frozen=True)
class GA4SandboxConfig:
    measurement_id: str = DEFAULT_MEASUREMENT_ID
    api_secrets: tuple[str, ...] = (DEFAULT_API_SECRET,)
    max_events: int = 25
    max_params: int = 25
    max_user_properties: int = 25
    max_body_bytes: int = 130_000

    def secrets(self, measurement_id: str) -> tuple[str, ...] | None:
        """The API secrets of stream ``measurement_id`` (None: no such stream)."""
        return self.api_secrets if measurement_id == self.measurement_id else None


def _message(path: str, code: str, description: str) -> Message:
    return {"fieldPath": path, "description": description, "validationCode": code}


class GA4Sandbox(VendorSandbox[GA4SandboxConfig]):
    def __init__(self, config: GA4SandboxConfig, clock: Clock) -> None:
        super().__init__(config, clock)
        self.events: list[dict[str, Any]] = []
        self.dropped: list[str] = []
        self.collect_requests = 0

    def connection_help(self, base_url: str) -> str:
        return (
            f"GA4 Measurement Protocol sandbox at {base_url}\n"
            f"  base_url: {base_url}\n"
            f"  measurement_id: {self.config.measurement_id}  "
            f"api_secret: {self.config.api_secrets[0]}"
        )

    def fault_body(self, status: int) -> Any:
        return {"error": {"code": status, "message": f"injected fault {status}"}}

    async def handle(self, call: Call) -> Response:
        if call.method != "POST" or call.path not in ("/mp/collect", "/debug/mp/collect"):
            return JSONResponse({"error": "Not Found"}, status_code=404)
        await self.admitted()
        debug = call.path.startswith("/debug")
        messages = self._request_problems(call, check_secret=not debug)
        body: Any = None
        if not messages:
            try:
                body = json_body(call)
            except BadBody as exc:
                messages = [_message("", "VALUE_INVALID", exc.detail)]
        if body is not None and not messages:
            messages = self._body_problems(body)
        if debug:
            return JSONResponse({"validationMessages": messages})
        self.collect_requests += 1
        self._collect(body, messages)
        return Response(status_code=204)

    def _request_problems(self, call: Call, *, check_secret: bool) -> list[Message]:
        measurement_id = call.query.get("measurement_id") or ""
        if not measurement_id:
            return [_message("measurement_id", "VALUE_REQUIRED", "measurement_id is required")]
        secrets = self.config.secrets(measurement_id)
        if secrets is None:
            return [_message("measurement_id", "VALUE_INVALID", "unknown measurement_id")]
        if check_secret and call.query.get("api_secret") not in secrets:
            return [_message("api_secret", "VALUE_INVALID", "unknown API secret")]
        if len(call.body) >= self.config.max_body_bytes:
            self.violate(ViolationKind.BATCH_SIZE, call.path, f"{len(call.body)} bytes")
            return [_message("", "VALUE_OUT_OF_BOUNDS", "the post body must be under 130kB")]
        return []

    def _body_problems(self, body: Any) -> list[Message]:
        if not isinstance(body, dict):
            return [_message("", "VALUE_INVALID", "the body must be a JSON object")]
        found: list[Message] = []
        if not isinstance(body.get("client_id"), str) or not body["client_id"]:
            found.append(_message("client_id", "VALUE_REQUIRED", "client_id is required"))
        events = body.get("events")
        if not isinstance(events, list) or not events:
            found.append(_message("events", "VALUE_REQUIRED", "events is required"))
            return found
        if len(events) > self.config.max_events:
            self.violate(ViolationKind.BATCH_SIZE, "/mp/collect", f"{len(events)} events")
            found.append(
                _message("events", "EXCEEDED_MAX_ENTITIES", "a request can have at most 25 events")
            )
            return found
        found += self._user_property_problems(body.get("user_properties"), "user_properties")
        for index, event in enumerate(events):
            found += self._event_problems(event, f"events[{index}]")
        return found

    def _event_problems(self, event: Any, path: str) -> list[Message]:
        if not isinstance(event, dict):
            return [_message(path, "VALUE_INVALID", "an event must be an object")]
        name = event.get("name")
        if not isinstance(name, str) or not name:
            return [_message(f"{path}.name", "VALUE_REQUIRED", "the event name is required")]
        if len(name) > 40 or not _NAME.fullmatch(name):
            return [_message(f"{path}.name", "NAME_INVALID", f"invalid event name {name!r}")]
        if name in _RESERVED_EVENTS:
            return [_message(f"{path}.name", "NAME_RESERVED", f"{name!r} is reserved")]
        params = event.get("params") or {}
        if not isinstance(params, dict):
            return [_message(f"{path}.params", "VALUE_INVALID", "params must be an object")]
        if len(params) > self.config.max_params:
            return [
                _message(f"{path}.params", "EXCEEDED_MAX_ENTITIES", "at most 25 params per event")
            ]
        for key, value in params.items():
            where = f"{path}.params.{key}"
            if len(key) > 40 or not _NAME.fullmatch(key):
                return [_message(where, "NAME_INVALID", f"invalid parameter name {key!r}")]
            if key.startswith(_PREFIXES):
                return [_message(where, "NAME_RESERVED", f"{key!r} uses a reserved prefix")]
            if isinstance(value, str) and len(value) > 100:
                return [_message(where, "VALUE_OUT_OF_BOUNDS", "values are ≤ 100 characters")]
        return []

    def _user_property_problems(self, properties: Any, path: str) -> list[Message]:
        if properties is None:
            return []
        if not isinstance(properties, dict):
            return [_message(path, "VALUE_INVALID", "user_properties must be an object")]
        if len(properties) > self.config.max_user_properties:
            return [_message(path, "EXCEEDED_MAX_ENTITIES", "at most 25 user properties")]
        for key, entry in properties.items():
            where = f"{path}.{key}"
            if len(key) > 24 or not _NAME.fullmatch(key):
                return [_message(where, "NAME_INVALID", f"invalid user property name {key!r}")]
            if key in _RESERVED_USER_PROPERTIES or key.startswith(_PREFIXES):
                return [_message(where, "NAME_RESERVED", f"{key!r} is reserved")]
            value = entry.get("value") if isinstance(entry, dict) else None
            if isinstance(value, str) and len(value) > 36:
                return [_message(where, "VALUE_OUT_OF_BOUNDS", "values are ≤ 36 characters")]
        return []

    def _collect(self, body: Any, messages: list[Message]) -> None:
        """Keep what GA4 would keep: nothing on a request-level problem, else every event
        the messages do not name."""
        bad_events = {
            m["fieldPath"].split("]", 1)[0] + "]"
            for m in messages
            if m["fieldPath"].startswith("events[")
        }
        request_level = [m for m in messages if not m["fieldPath"].startswith("events[")]
        if request_level or not isinstance(body, dict):
            self.dropped += [m["description"] for m in request_level] or ["unreadable body"]
            return
        self.dropped += [m["description"] for m in messages]
        for index, event in enumerate(body.get("events") or []):
            if f"events[{index}]" in bad_events:
                continue
            self.events.append(
                {
                    "client_id": body["client_id"],
                    "user_id": body.get("user_id"),
                    "user_properties": body.get("user_properties") or {},
                    "timestamp_micros": body.get("timestamp_micros"),
                    "name": event["name"],
                    "params": event.get("params") or {},
                    "received_at": self.clock.now().isoformat(),
                }
            )

    def events_named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["name"] == name]


def create_ga4_app(
    config: GA4SandboxConfig | None = None, clock: Clock | None = None
) -> GA4Sandbox:
    return GA4Sandbox(config or GA4SandboxConfig(), clock or SystemClock())
