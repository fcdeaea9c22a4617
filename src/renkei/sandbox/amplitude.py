"""A local Amplitude ingestion host: ``POST /2/httpapi`` and ``POST /identify``.

As Amplitude documents them (amplitude.com/docs/apis/analytics/http-v2, /identify):

- the project API key is the body's ``api_key``: missing is a 400 naming
  ``missing_field``; unknown is a 400 ``Invalid API key``;
- ``/2/httpapi`` takes ``{"api_key", "events", "options"?}``; fewer than 2,000 events
  (``max_events``) and under 1 MB (``max_bytes``), else 413 and a ``batch_size``
  violation. An event without ``event_type`` or without a ``user_id``/``device_id`` of at
  least 5 characters (``options.min_id_length``), or with a ``time`` that is not epoch
  milliseconds, rejects the whole request with a 400 that names it
  (``events_with_missing_fields``/``events_with_invalid_fields``: field → indices);
  ``insert_id`` deduplicates; success is ``{"code": 200, "events_ingested",
  "payload_size_bytes", "server_upload_time"}``;
- ``/identify`` takes form fields ``api_key`` and ``identification`` (one JSON object or
  an array) and answers ``success``; user properties take ``$set``, ``$setOnce``,
  ``$add``, ``$append``, ``$prepend``, ``$unset`` or plain values (set);
- throttling: each device and user may send ``eps_threshold`` events a second averaged
  over 30 seconds; a request that would exceed it is a 429 ``{"code": 429, "error",
  "eps_threshold", "throttled_devices", "throttled_users", "throttled_events"}`` (no
  ``Retry-After``: Amplitude documents none) and a recorded ``rate_limit`` violation;
- ``POST /api/2/deletions/users`` (the User Privacy API, on amplitude.com in production):
  Basic auth ``api_key:secret_key`` (anything else is a 401); JSON or form
  ``user_ids``/``amplitude_ids`` (at most 100 together, else 400), ``requester``,
  ``ignore_invalid_id`` (a string; without it an unknown id is a 400). Amplitude stages a
  job that runs days later; the sandbox deletes the users (properties and events) at once
  and answers the job: ``{"day", "status": "staging", "amplitude_ids": [{"amplitude_id",
  "user_id", "requester", "requested_on_day"}]}``, the users it found.
"""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.responses import JSONResponse, PlainTextResponse, Response

from renkei.clock import Clock, SystemClock
from renkei.sandbox._base import VendorSandbox
from renkei.sandbox._common import Call, ViolationKind, content_type

__all__ = [
    "DEFAULT_API_KEY",
    "AmplitudeSandbox",
    "AmplitudeSandboxConfig",
    "AmplitudeUser",
    "create_amplitude_app",
]

DEFAULT_API_KEY = "amplitude-sandbox-key-0000"
DEFAULT_SECRET_KEY = "amplitude-sandbox-secret-0000"
_DELETIONS = "/api/2/deletions/users"
_IDS_PER_DELETION = 100
_WINDOW = 30.0


@dataclass(frozen=True)
class AmplitudeSandboxConfig:
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    secret_keys: tuple[tuple[str, str], ...] = ((DEFAULT_API_KEY, DEFAULT_SECRET_KEY),)
    """(api key, its secret key): the User Privacy API's Basic auth."""
    max_events: int = 2000
    max_bytes: int = 1_000_000
    eps_threshold: int = 1000
    min_id_length: int = 5


@dataclass
class AmplitudeUser:
    key: str
    amplitude_id: int = 0
    properties: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


class AmplitudeSandbox(VendorSandbox[AmplitudeSandboxConfig]):
    def __init__(self, config: AmplitudeSandboxConfig, clock: Clock) -> None:
        super().__init__(config, clock)
        self.users: dict[str, AmplitudeUser] = {}
        self.insert_ids: set[str] = set()
        self.upload_requests = 0
        self.identify_requests = 0
        self._window = -1
        self._sent: Counter[str] = Counter()
        self.deletion_jobs: list[dict[str, Any]] = []
        self._next_amplitude_id = 100_000_001

    def connection_help(self, base_url: str) -> str:
        return (
            f"Amplitude sandbox at {base_url}\n"
            f"  base_url: {base_url}\n"
            f"  api_key: {self.config.api_keys[0]}  (sent in the body)\n"
            f"  privacy_url: {base_url}\n"
            f"  secret_key: {self.config.secret_keys[0][1]}  (deleting users only)"
        )

    # --- inspection --------------------------------------------------------------------

    def user(self, user_id: str) -> AmplitudeUser | None:
        return self.users.get(f"user:{user_id}")

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for user in self.users.values() for event in user.events]

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return {"code": 429, "error": "Too many requests for some devices and users"}
        return {"code": status, "error": "injected fault"}

    def fault_headers(self, status: int) -> dict[str, str]:
        return {}  # Amplitude documents no Retry-After

    # --- pipeline ----------------------------------------------------------------------

    async def handle(self, call: Call) -> Response:
        if call.method != "POST" or call.path not in ("/2/httpapi", "/identify", _DELETIONS):
            return JSONResponse({"code": 404, "error": "Not Found"}, status_code=404)
        await self.admitted()
        if call.path == _DELETIONS:
            return self._delete_users(call)
        if call.path == "/identify":
            return self._identify(call)
        return self._upload(call)

    def _key_problem(self, key: Any) -> Response | None:
        if not key:
            return _error(400, "Request missing required field", missing_field="api_key")
        if key not in self.config.api_keys:
            return _error(400, "Invalid API key")
        return None

    def _upload(self, call: Call) -> Response:
        self.upload_requests += 1
        try:
            body = json.loads(call.body or b"null")
        except ValueError:
            return _error(400, "Invalid JSON request body")
        if not isinstance(body, dict):
            return _error(400, "Invalid JSON request body")
        if refused := self._key_problem(body.get("api_key")):
            return refused
        events = body.get("events")
        if not isinstance(events, list) or not events:
            return _error(400, "Request missing required field", missing_field="events")
        if len(events) > self.config.max_events or len(call.body) > self.config.max_bytes:
            self.violate(
                ViolationKind.BATCH_SIZE,
                "/2/httpapi",
                f"{len(events)} events, {len(call.body)} bytes",
            )
            return _error(413, "Payload too large")
        options = body["options"] if isinstance(body.get("options"), dict) else {}
        min_length = int(options.get("min_id_length") or self.config.min_id_length)
        invalid, missing = _check(events, min_length, "event_type")
        if invalid or missing:
            return _error(
                400,
                "Invalid field values on some events" if invalid else "Missing fields",
                events_with_invalid_fields=invalid,
                events_with_missing_fields=missing,
            )
        if throttled := self._throttle(events):
            return throttled
        for event in events:
            self._ingest(event)
        return JSONResponse(
            {
                "code": 200,
                "events_ingested": len(events),
                "payload_size_bytes": len(call.body),
                "server_upload_time": int(self.clock.time() * 1000),
            }
        )

    def _identify(self, call: Call) -> Response:
        self.identify_requests += 1
        if content_type(call) not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return _error(400, "The body must be form data: api_key and identification")
        form = {k: v[-1] for k, v in parse_qs(call.body.decode()).items()}
        if refused := self._key_problem(form.get("api_key")):
            return refused
        try:
            parsed = json.loads(form.get("identification") or "null")
        except ValueError:
            return _error(400, "identification is not valid JSON")
        identifications = [parsed] if isinstance(parsed, dict) else parsed
        if not isinstance(identifications, list) or not identifications:
            return _error(400, "Request missing required field", missing_field="identification")
        if len(identifications) > self.config.max_events:
            self.violate(ViolationKind.BATCH_SIZE, "/identify", f"{len(identifications)}")
            return _error(413, "Payload too large")
        invalid, missing = _check(identifications, self.config.min_id_length, None)
        if invalid or missing:
            return _error(
                400,
                "Invalid identifications",
                events_with_invalid_fields=invalid,
                events_with_missing_fields=missing,
            )
        if throttled := self._throttle(identifications):
            return throttled
        for identification in identifications:
            user = self._user(identification)
            _apply(user.properties, identification.get("user_properties") or {})
        return PlainTextResponse("success")

    def _user(self, item: Mapping[str, Any]) -> AmplitudeUser:
        key = f"user:{item['user_id']}" if item.get("user_id") else f"device:{item['device_id']}"
        user = self.users.get(key)
        if user is None:
            user = self.users[key] = AmplitudeUser(key, self._next_amplitude_id)
            self._next_amplitude_id += 1
        return user

    def _basic_auth_ok(self, call: Call) -> bool:
        scheme, _, encoded = call.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            key, _, secret = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return (key, secret) in self.config.secret_keys

    def _delete_users(self, call: Call) -> Response:
        if not self._basic_auth_ok(call):
            return _error(401, "Invalid API key or secret key")
        if content_type(call) == "application/json":
            try:
                body = json.loads(call.body or b"null")
            except ValueError:
                return _error(400, "Invalid JSON request body")
            if not isinstance(body, dict):
                return _error(400, "Invalid JSON request body")
        else:
            body = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(call.body.decode()).items()}
        user_ids = _strings(body.get("user_ids"))
        amplitude_ids = _strings(body.get("amplitude_ids"))
        if user_ids is None or amplitude_ids is None:
            return _error(400, "user_ids and amplitude_ids are lists")
        if not user_ids and not amplitude_ids:
            return _error(400, "Request missing required field", missing_field="user_ids")
        if len(user_ids) + len(amplitude_ids) > _IDS_PER_DELETION:
            self.violate(ViolationKind.BATCH_SIZE, _DELETIONS, f"{len(user_ids)} user ids")
            return _error(400, f"At most {_IDS_PER_DELETION} ids a request")
        found = [self.users[f"user:{u}"] for u in user_ids if f"user:{u}" in self.users]
        found += [u for u in self.users.values() if str(u.amplitude_id) in amplitude_ids]
        found = list({user.key: user for user in found}.values())
        unknown = [u for u in user_ids if f"user:{u}" not in self.users]
        if unknown and str(body.get("ignore_invalid_id")).lower() != "true":
            return _error(400, "Invalid user ids", invalid_user_ids=unknown)
        day = self.clock.now().date().isoformat()
        requester = str(body.get("requester") or "")
        job = {
            "day": day,
            "status": "staging",
            "amplitude_ids": [
                {
                    "amplitude_id": user.amplitude_id,
                    "user_id": user.key.partition(":")[2],
                    "requester": requester,
                    "requested_on_day": day,
                }
                for user in found
            ],
        }
        for user in found:
            self.users.pop(user.key, None)
        self.deletion_jobs.append(job)
        return JSONResponse(job)

    def _ingest(self, event: Mapping[str, Any]) -> None:
        insert_id = event.get("insert_id")
        if isinstance(insert_id, str):
            if insert_id in self.insert_ids:
                return
            self.insert_ids.add(insert_id)
        user = self._user(event)
        _apply(user.properties, event.get("user_properties") or {})
        user.events.append({**event, "received_at": self.clock.now().isoformat()})

    def _throttle(self, items: list[Any]) -> Response | None:
        """Refuse the request when a device or user would pass ``eps_threshold`` events a
        second averaged over the 30-second window."""
        window = math.floor(self.clock.time() / _WINDOW)
        if window != self._window:
            self._window, self._sent = window, Counter()
        wanted: Counter[str] = Counter()
        for item in items:
            for kind in ("user_id", "device_id"):
                if item.get(kind):
                    wanted[f"{kind}:{item[kind]}"] += 1
        limit = self.config.eps_threshold * _WINDOW
        over = {key for key, count in wanted.items() if self._sent[key] + count > limit}
        if not over:
            self._sent.update(wanted)
            return None
        self.violate(ViolationKind.RATE_LIMIT, "eps_threshold", ", ".join(sorted(over)))

        def rate(key: str) -> int:
            return math.ceil((self._sent[key] + wanted[key]) / _WINDOW)

        return _error(
            429,
            "Too many requests for some devices and users",
            eps_threshold=self.config.eps_threshold,
            throttled_devices={
                k.split(":", 1)[1]: rate(k) for k in over if k.startswith("device_id:")
            },
            throttled_users={k.split(":", 1)[1]: rate(k) for k in over if k.startswith("user_id:")},
            throttled_events=[
                i
                for i, item in enumerate(items)
                if {f"user_id:{item.get('user_id')}", f"device_id:{item.get('device_id')}"} & over
            ],
        )


def _check(
    items: list[Any], min_length: int, required: str | None
) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    invalid: dict[str, list[int]] = {}
    missing: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            invalid.setdefault("event", []).append(index)
            continue
        if required and not (isinstance(item.get(required), str) and item[required]):
            missing.setdefault(required, []).append(index)
        ids = [item.get(k) for k in ("user_id", "device_id")]
        if not any(isinstance(v, str) and len(v) >= min_length for v in ids):
            missing.setdefault("user_id or device_id", []).append(index)
        if "time" in item and not isinstance(item["time"], int):
            invalid.setdefault("time", []).append(index)
        for name in ("event_properties", "user_properties"):
            if name in item and not isinstance(item[name], dict):
                invalid.setdefault(name, []).append(index)
    return invalid, missing


def _apply(properties: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if not key.startswith("$"):
            properties[key] = value
        elif not isinstance(value, dict):
            continue
        elif key == "$set":
            properties.update(value)
        elif key == "$setOnce":
            for name, item in value.items():
                properties.setdefault(name, item)
        elif key == "$add":
            for name, item in value.items():
                properties[name] = (properties.get(name) or 0) + item
        elif key == "$unset":
            for name in value:
                properties.pop(name, None)
        elif key in ("$append", "$prepend"):
            for name, item in value.items():
                current = properties.get(name)
                items = (
                    current if isinstance(current, list) else [] if current is None else [current]
                )
                added = item if isinstance(item, list) else [item]
                properties[name] = items + added if key == "$append" else added + items


def _strings(value: Any) -> list[str] | None:
    """A list of ids (a form gives one string for one id); None when it is not one."""
    if value is None:
        return []
    if isinstance(value, str | int):
        return [str(value)]
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return [str(v) for v in value]
    return None


def _error(status: int, error: str, **extra: Any) -> Response:
    body = {"code": status, "error": error}
    body.update({k: v for k, v in extra.items() if v})
    return JSONResponse(body, status_code=status)


def create_amplitude_app(
    config: AmplitudeSandboxConfig | None = None, clock: Clock | None = None
) -> AmplitudeSandbox:
    return AmplitudeSandbox(config or AmplitudeSandboxConfig(), clock or SystemClock())
