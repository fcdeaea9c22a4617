"""A local Braze REST endpoint: ``POST /users/track``, as Braze documents it.

- ``Authorization: Bearer <REST API key>``; anything else is a 401.
- A fixed window of ``rate_limit`` requests per ``rate_window_seconds`` (3,000 per 3 s);
  every answer carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (UTC epoch
  seconds), and a request past the window is a 429 and a recorded violation.
- At most 75 objects per array (``object_limit_mode="per_array"``) or in all
  (``"combined"``); more is a fatal 400 and a violation.
- Objects that can't be used are dropped and listed as non-fatal errors
  ``{"type", "input_array", "index"}`` in a 201 ``{"message": "success"}`` answer.

    sandbox = create_braze_app(BrazeSandboxConfig(rate_limit=5), clock)
    with serve_in_thread(sandbox.app) as base_url:  # the connector's instance_url
        ...
    assert sandbox.violations == []
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.responses import JSONResponse, Response

from renkei.clock import Clock, SystemClock
from renkei.sandbox._base import BadBody, FixedWindow, VendorSandbox, json_body, up
from renkei.sandbox._common import Call, ViolationKind, bearer_token, parse_datetime

__all__ = [
    "DEFAULT_API_KEY",
    "BrazeSandbox",
    "BrazeSandboxConfig",
    "BrazeUser",
    "create_braze_app",
]

DEFAULT_API_KEY = "braze-sandbox-0000-4000-8000-000000000000"
ARRAYS = ("attributes", "events", "purchases")
IDENTIFIERS = ("external_id", "user_alias", "braze_id", "email", "phone")
_MISSING_IDENTIFIER = "'external_id', 'user_alias', 'braze_id', 'email' or 'phone' is required"
_NO_DATA = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
_TRACK = "POST /users/track"
_DELETE_KINDS = ("external_ids", "user_aliases", "braze_ids", "email_addresses", "phone_numbers")
_DELETE_LIMIT = 50
_ONE_KIND = (
    "Exactly one of 'external_ids', 'user_aliases', 'braze_ids', 'email_addresses' or "
    "'phone_numbers' is required"
)


@dataclass(frozen=True)
class BrazeSandboxConfig:
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    rate_limit: int = 3000
    rate_window_seconds: float = 3.0
    object_limit: int = 75
    object_limit_mode: str = "per_array"  # or "combined"


@dataclass
class BrazeUser:
    """A user profile: what attributes set, and the events and purchases recorded."""

    key: str
    identifiers: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    purchases: list[dict[str, Any]] = field(default_factory=list)


class BrazeSandbox(VendorSandbox[BrazeSandboxConfig]):
    def __init__(self, config: BrazeSandboxConfig, clock: Clock) -> None:
        super().__init__(config, clock)
        self.window = FixedWindow(config.rate_limit, config.rate_window_seconds)
        self.users: dict[str, BrazeUser] = {}
        self.track_requests = 0
        self.delete_requests = 0

    def connection_help(self, base_url: str) -> str:
        return (
            f"Braze sandbox at {base_url}\n"
            f"  instance_url: {base_url}\n"
            f"  api_key: {self.config.api_keys[0]}  (Authorization: Bearer)"
        )

    # --- inspection --------------------------------------------------------------------

    def user(self, external_id: str) -> BrazeUser | None:
        return self.users.get(f"external_id:{external_id}")

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for user in self.users.values() for event in user.events]

    @property
    def purchases(self) -> list[dict[str, Any]]:
        return [purchase for user in self.users.values() for purchase in user.purchases]

    # --- pipeline ----------------------------------------------------------------------

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return {"message": "Rate limit exceeded"}
        return {"message": "Internal Server Error" if status >= 500 else "Bad Request"}

    def fault_headers(self, status: int) -> dict[str, str]:
        # Braze's 429 says when the window resets; it documents no Retry-After.
        if status != 429:
            return {}
        now = self.clock.time()
        return {**self._rate_headers(now), "X-RateLimit-Remaining": "0"}

    async def handle(self, call: Call) -> Response:
        route = (call.method, call.path.rstrip("/"))
        if route == ("POST", "/users/delete"):
            return await self._delete(call)
        if route != ("POST", "/users/track"):
            return _answer(404, {"message": "Not Found"})
        if bearer_token(call) not in self.config.api_keys:
            return _answer(401, {"message": "Unauthorized: unknown or missing REST API key"})
        now = self.clock.time()
        if self.window.is_full(now):
            self.violate(ViolationKind.RATE_LIMIT, _TRACK, f"over {self.config.rate_limit}")
            headers = {
                **self._rate_headers(now),
                "Retry-After": str(up(self.window.retry_after(now))),
            }
            return _answer(429, {"message": "Rate limit exceeded"}, headers)
        self.window.add(now)
        headers = self._rate_headers(now)
        await self.admitted()
        self.track_requests += 1
        try:
            body = json_body(call)
        except BadBody as exc:
            return _answer(400, {"message": "Bad Request", "errors": [exc.detail]}, headers)
        if not isinstance(body, dict) or not any(body.get(name) for name in ARRAYS):
            return _answer(400, {"message": _NO_DATA}, headers)
        if too_many := self._over_cap(body):
            self.violate(ViolationKind.BATCH_SIZE, _TRACK, too_many)
            return _answer(400, {"message": "Bad Request", "errors": [too_many]}, headers)
        return _answer(201, self._track(body), headers)

    async def _delete(self, call: Call) -> Response:
        """``POST /users/delete``: up to 50 identifiers of one kind (external_ids,
        email_addresses, braze_ids); 201 with how many profiles went."""
        if bearer_token(call) not in self.config.api_keys:
            return _answer(401, {"message": "Unauthorized: unknown or missing REST API key"})
        await self.admitted()
        try:
            body = json_body(call)
        except BadBody as exc:
            return _answer(400, {"message": "Bad Request", "errors": [exc.detail]})
        kinds = [k for k in _DELETE_KINDS if isinstance(body, dict) and body.get(k) is not None]
        if len(kinds) != 1:
            return _answer(400, {"message": _ONE_KIND})
        values = body[kinds[0]]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            return _answer(400, {"message": f"'{kinds[0]}' must be an array of strings"})
        if len(values) > _DELETE_LIMIT:
            self.violate(ViolationKind.BATCH_SIZE, "POST /users/delete", f"{len(values)} ids")
            return _answer(400, {"message": f"at most {_DELETE_LIMIT} identifiers per request"})
        self.delete_requests += 1
        deleted = 0
        for value in values:
            for key in self._keys_of(kinds[0], value):
                if self.users.pop(key, None) is not None:
                    deleted += 1
        return _answer(201, {"deleted": deleted, "message": "success"})

    def _keys_of(self, kind: str, value: str) -> list[str]:
        if kind == "external_ids":
            return [f"external_id:{value}"]
        if kind == "braze_ids":
            return [f"braze_id:{value}"]
        wanted = value.strip().lower()
        return [
            key
            for key, user in self.users.items()
            if str(user.identifiers.get("email", "")).strip().lower() == wanted
        ]

    def _rate_headers(self, now: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.window.limit),
            "X-RateLimit-Remaining": str(self.window.remaining(now)),
            "X-RateLimit-Reset": str(int(self.window.resets_at(now))),
        }

    def _over_cap(self, body: Mapping[str, Any]) -> str | None:
        cap = self.config.object_limit
        sizes = {name: len(body.get(name) or []) for name in ARRAYS}
        if self.config.object_limit_mode == "combined" and sum(sizes.values()) > cap:
            return f"{sum(sizes.values())} objects in one request; the limit is {cap} in total"
        for name, size in sizes.items():
            if size > cap:
                return f"'{name}' has {size} objects; the limit is {cap} per request"
        return None

    def _track(self, body: Mapping[str, Any]) -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        answer: dict[str, Any] = {"message": "success"}
        for name in ARRAYS:
            objects = body.get(name)
            if objects is None:
                continue
            if not isinstance(objects, list):
                errors.append({"type": f"'{name}' must be an array", "input_array": name})
                continue
            processed = 0
            for index, obj in enumerate(objects):
                problem = _problem(name, obj)
                if problem is None:
                    self._apply(name, obj)
                    processed += 1
                else:
                    errors.append({"type": problem, "input_array": name, "index": index})
            answer[f"{name}_processed"] = processed
        if errors:
            answer["errors"] = errors
        return answer

    def _apply(self, kind: str, obj: Mapping[str, Any]) -> None:
        key = _user_key(obj)
        user = self.users.setdefault(key, BrazeUser(key))
        user.identifiers.update({k: v for k in IDENTIFIERS if (v := obj.get(k))})
        values = {k: v for k, v in obj.items() if k not in IDENTIFIERS}
        if kind == "attributes":
            user.attributes.update(values)
        elif kind == "events":
            user.events.append({**obj, "recorded_at": self.clock.now().isoformat()})
        else:
            user.purchases.append({**obj, "recorded_at": self.clock.now().isoformat()})


def _user_key(obj: Mapping[str, Any]) -> str:
    for name in IDENTIFIERS:
        value = obj.get(name)
        if value:
            if isinstance(value, dict):
                return f"user_alias:{value.get('alias_label')}:{value.get('alias_name')}"
            return f"{name}:{value}"
    raise AssertionError("validated objects are identified")


def _problem(kind: str, obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return f"'{kind}' objects must be JSON objects"
    if not any(obj.get(name) for name in IDENTIFIERS):
        return _MISSING_IDENTIFIER
    alias = obj.get("user_alias")
    if alias is not None and not (
        isinstance(alias, dict) and alias.get("alias_name") and alias.get("alias_label")
    ):
        return "'user_alias' must have 'alias_name' and 'alias_label'"
    if kind == "attributes":
        return None
    required = ("name", "time") if kind == "events" else ("product_id", "currency", "price", "time")
    for name in required:
        if obj.get(name) in (None, ""):
            return f"'{name}' is required"
    if not isinstance(obj["time"], str) or _time(obj["time"]) is None:
        return "'time' must be an ISO 8601 date-time string"
    if kind == "purchases":
        if not isinstance(obj["price"], int | float) or isinstance(obj["price"], bool):
            return "'price' must be a number"
        if not (isinstance(obj["currency"], str) and len(obj["currency"]) == 3):
            return "'currency' must be a three-letter ISO 4217 code"
        quantity = obj.get("quantity", 1)
        if not (isinstance(quantity, int) and 1 <= quantity <= 100):
            return "'quantity' must be an integer from 1 to 100"
    return None


def _time(text: str) -> datetime | None:
    return parse_datetime(text) if "T" in text or len(text) == 10 else None


def _answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def create_braze_app(
    config: BrazeSandboxConfig | None = None, clock: Clock | None = None
) -> BrazeSandbox:
    return BrazeSandbox(config or BrazeSandboxConfig(), clock or SystemClock())
