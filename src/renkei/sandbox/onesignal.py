"""A local OneSignal REST API: messages and users, as OneSignal documents them.

- ``Authorization: Key <REST API key>`` (or the legacy ``Basic <key>``); anything else is
  a 403 ``{"errors": [...]}``. The ``app_id`` (body or path) must be the sandbox's.
- ``POST /notifications``: exactly one targeting mode (``include_aliases`` with
  ``target_channel``, or ``included_segments``), ``contents`` with ``en`` (or a
  ``template_id``); at most 2,000 aliases (more: 400 and a ``batch_size`` violation).
  200 ``{"id", "external_id": null}``; aliases of no subscribed user are listed in
  ``errors.invalid_aliases``; with none left, ``{"id": "", "errors": ["All included players
  are not subscribed"]}``. An ``idempotency_key`` seen before answers the first result.
- ``PATCH /apps/{app_id}/users/by/external_id/{id}``: 202 ``{"properties"}``; 404 for an
  unknown user; more than 100 property changes: 400. A tag set to ``""`` is removed.
- ``POST /apps/{app_id}/users``: 201 (200 when the External ID exists) with
  ``identity.onesignal_id``. ``GET`` of a user: 200 or 404.
- ``DELETE /apps/{app_id}/users/by/external_id/{id}``: the user, their properties and
  subscriptions go; 200 ``{"identity": {"onesignal_id"}}``, 404 for an unknown user.
  (OneSignal deletes shortly after accepting; the sandbox at once.)
- Rate limits: ``notification_rate`` create-message requests a second per app (150, the
  free plan), ``user_rate`` user requests a second per app (1,000) and one a second per
  user; past any of them a 429 ``{"errors": ["API rate limit exceeded."]}`` with
  ``Retry-After`` and a recorded ``rate_limit`` violation.
- ``lose_answers(n)``: the next messages are sent but answered 503, as when a response is
  lost after OneSignal sent the message (what ``idempotency_key`` protects against).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.responses import JSONResponse, Response

from renkei.clock import Clock, SystemClock
from renkei.sandbox._base import BadBody, FixedWindow, VendorSandbox, json_body, up
from renkei.sandbox._common import Call, ViolationKind

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_APP_ID",
    "OneSignalNotification",
    "OneSignalSandbox",
    "OneSignalSandboxConfig",
    "OneSignalUser",
    "create_onesignal_app",
]

DEFAULT_APP_ID = "5eb5a37e-b458-11e3-ac11-000c2940e62c"
DEFAULT_API_KEY = "os_v2_app_sandbox0000000000000000"
_RATE_LIMITED = {"errors": ["API rate limit exceeded."]}


@dataclass(frozen=True)
class OneSignalSandboxConfig:
    app_id: str = DEFAULT_APP_ID
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    notification_rate: int = 150
    user_rate: int = 1000
    per_user_rate: int = 1
    max_aliases: int = 2000
    max_property_changes: int = 100


@dataclass
class OneSignalUser:
    external_id: str
    onesignal_id: str
    properties: dict[str, Any] = field(default_factory=dict)
    subscribed: bool = False

    @property
    def tags(self) -> dict[str, str]:
        tags: dict[str, str] = self.properties.setdefault("tags", {})
        return tags


@dataclass(frozen=True)
class OneSignalNotification:
    id: str
    body: dict[str, Any]
    recipients: tuple[str, ...]


class OneSignalSandbox(VendorSandbox[OneSignalSandboxConfig]):
    def __init__(self, config: OneSignalSandboxConfig, clock: Clock) -> None:
        super().__init__(config, clock)
        self.users: dict[str, OneSignalUser] = {}
        self.notifications: list[OneSignalNotification] = []
        self._idempotent: dict[str, dict[str, Any]] = {}
        self._answers_to_lose = 0
        self._notification_window = FixedWindow(config.notification_rate, 1.0)
        self._user_window = FixedWindow(config.user_rate, 1.0)
        self._per_user: dict[str, FixedWindow] = {}

    def connection_help(self, base_url: str) -> str:
        return (
            f"OneSignal sandbox at {base_url}\n"
            f"  base_url: {base_url}\n"
            f"  app_id: {self.config.app_id}\n"
            f"  rest_api_key: {self.config.api_keys[0]}  (Authorization: Key <key>)"
        )

    # --- steering and inspection -------------------------------------------------------

    def add_user(
        self, external_id: str, *, subscribed: bool = True, tags: dict[str, str] | None = None
    ) -> OneSignalUser:
        """A user as the app's SDK would register it (with a push subscription)."""
        user = OneSignalUser(external_id, str(uuid.uuid4()), subscribed=subscribed)
        if tags:
            user.tags.update(tags)
        self.users[external_id] = user
        return user

    def lose_answers(self, count: int = 1) -> None:
        """The next ``count`` create-message requests are served, then answered 503: the
        message went out but the client never heard (a timeout after the send)."""
        self._answers_to_lose += count

    def user(self, external_id: str) -> OneSignalUser | None:
        return self.users.get(external_id)

    def sent_to(self, external_id: str) -> list[OneSignalNotification]:
        return [n for n in self.notifications if external_id in n.recipients]

    def fault_body(self, status: int) -> Any:
        return _RATE_LIMITED if status == 429 else {"errors": [f"injected fault {status}"]}

    # --- pipeline ----------------------------------------------------------------------

    async def handle(self, call: Call) -> Response:
        scheme, _, key = call.headers.get("authorization", "").partition(" ")
        if scheme not in ("Key", "Basic") or key.strip() not in self.config.api_keys:
            return _answer(
                403,
                {"errors": ["Access denied. Please include an 'Authorization: Key <REST API "
                            "key>' header with a valid REST API key."]},
            )  # fmt: skip
        parts = [unquote(p) for p in call.path.strip("/").split("/")]
        if call.method == "POST" and parts == ["notifications"]:
            return await self._notify(call)
        if len(parts) >= 3 and parts[0] == "apps" and parts[2] == "users":
            if parts[1] != self.config.app_id:
                return _answer(404, {"errors": [{"title": "App not found"}]})
            if call.method == "POST" and len(parts) == 3:
                return await self._create_user(call)
            if len(parts) == 6 and parts[3:5] == ["by", "external_id"]:
                return await self._user_call(call, parts[5])
        return _answer(404, {"errors": ["Not Found"]})

    def _limited(self, window: FixedWindow, what: str) -> Response | None:
        now = self.clock.time()
        if window.is_full(now):
            self.violate(ViolationKind.RATE_LIMIT, what, f"over {window.limit}/s")
            retry = {"Retry-After": str(up(window.retry_after(now)))}
            return _answer(429, _RATE_LIMITED, retry)
        window.add(now)
        return None

    async def _notify(self, call: Call) -> Response:
        if refused := self._limited(self._notification_window, "POST /notifications"):
            return refused
        await self.admitted()
        try:
            body = json_body(call)
        except BadBody as exc:
            return _answer(400, {"errors": [exc.detail]})
        if not isinstance(body, dict):
            return _answer(400, {"errors": ["the body must be a JSON object"]})
        if body.get("app_id") != self.config.app_id:
            return _answer(400, {"errors": ["app_id not found. You may be missing a Content-Type "
                                            "header or an app_id."]})  # fmt: skip
        key = body.get("idempotency_key")
        if key is not None:
            try:
                uuid.UUID(str(key))
            except ValueError:
                return _answer(400, {"errors": ["idempotency_key must be a valid UUID"]})
            if str(key) in self._idempotent:
                return _answer(200, self._idempotent[str(key)])
        if problem := self._notification_problem(body):
            return _answer(400, {"errors": [problem]})
        aliases = (body.get("include_aliases") or {}).get("external_id")
        if aliases is not None and len(aliases) > self.config.max_aliases:
            self.violate(ViolationKind.BATCH_SIZE, "POST /notifications", f"{len(aliases)}")
            return _answer(400, {"errors": [f"include_aliases: at most {self.config.max_aliases} "
                                            "entries per request"]})  # fmt: skip
        answer = self._deliver(body, aliases)
        if key is not None:
            self._idempotent[str(key)] = answer
        if self._answers_to_lose > 0:
            self._answers_to_lose -= 1
            return _answer(503, {"errors": ["Service Unavailable"]})
        return _answer(200, answer)

    def _notification_problem(self, body: dict[str, Any]) -> str | None:
        modes = [m for m in ("include_aliases", "included_segments", "include_subscription_ids")
                 if m in body]  # fmt: skip
        if len(modes) != 1:
            return "use exactly one targeting mode: include_aliases or included_segments"
        if "include_aliases" in body:
            aliases = body["include_aliases"]
            if not isinstance(aliases, dict) or set(aliases) != {"external_id"}:
                return 'include_aliases takes {"external_id": [...]}'
            if not isinstance(aliases["external_id"], list) or not aliases["external_id"]:
                return "include_aliases.external_id must be a non-empty list"
            if body.get("target_channel") not in ("push", "email", "sms"):
                return "target_channel (push, email or sms) is required with include_aliases"
        if "template_id" not in body:
            contents = body.get("contents")
            if not isinstance(contents, dict) or not isinstance(contents.get("en"), str):
                return "Message Notifications must have English language content"
        return None

    def _deliver(self, body: dict[str, Any], aliases: list[Any] | None) -> dict[str, Any]:
        if aliases is not None:
            reached = [a for a in aliases if (u := self.users.get(str(a))) and u.subscribed]
            invalid = [a for a in aliases if a not in reached]
        else:
            segments = body.get("included_segments") or []
            everyone = "Subscribed Users" in segments or "Total Subscriptions" in segments
            reached = [u.external_id for u in self.users.values() if u.subscribed and everyone]
            invalid = []
        if not reached:
            return {"id": "", "errors": ["All included players are not subscribed"]}
        notification = OneSignalNotification(str(uuid.uuid4()), body, tuple(map(str, reached)))
        self.notifications.append(notification)
        answer: dict[str, Any] = {"id": notification.id, "external_id": None}
        if invalid:
            answer["errors"] = {"invalid_aliases": {"external_id": invalid}}
        return answer

    async def _user_limits(self, external_id: str) -> Response | None:
        """The app's window, then the user's (a request about a user that does not exist
        touches no user)."""
        if refused := self._limited(self._user_window, "users"):
            return refused
        if external_id not in self.users:
            await self.admitted()
            return None
        window = self._per_user.setdefault(external_id, FixedWindow(self.config.per_user_rate, 1.0))
        if refused := self._limited(window, f"user {external_id}"):
            return refused
        await self.admitted()
        return None

    async def _user_call(self, call: Call, external_id: str) -> Response:
        if refused := await self._user_limits(external_id):
            return refused
        user = self.users.get(external_id)
        if user is None:
            return _answer(404, {"errors": [{"code": "user-2", "title": "User not found"}]})
        if call.method == "GET":
            return _answer(200, _view(user))
        if call.method == "DELETE":
            del self.users[external_id]
            self._per_user.pop(external_id, None)
            return _answer(200, {"identity": {"onesignal_id": user.onesignal_id}})
        if call.method != "PATCH":
            return _answer(405, {"errors": ["Method not allowed"]})
        try:
            body = json_body(call)
        except BadBody as exc:
            return _answer(400, {"errors": [{"title": exc.detail}]})
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            return _answer(400, {"errors": [{"title": "properties must be an object"}]})
        if problem := self._properties_problem(properties):
            return _answer(400, {"errors": [{"title": problem}]})
        _merge(user, properties)
        return _answer(202, {"properties": properties})

    async def _create_user(self, call: Call) -> Response:
        try:
            body = json_body(call)
        except BadBody as exc:
            return _answer(400, {"errors": [{"title": exc.detail}]})
        identity = body.get("identity") if isinstance(body, dict) else None
        external_id = identity.get("external_id") if isinstance(identity, dict) else None
        if not isinstance(external_id, str) or not external_id:
            return _answer(400, {"errors": [{"title": "identity.external_id is required"}]})
        if refused := await self._user_limits(external_id):
            return refused
        properties = body.get("properties") or {}
        if not isinstance(properties, dict):
            return _answer(400, {"errors": [{"title": "properties must be an object"}]})
        if problem := self._properties_problem(properties):
            return _answer(400, {"errors": [{"title": problem}]})
        existing = self.users.get(external_id)
        if existing is not None:
            return _answer(200, _view(existing))
        user = OneSignalUser(external_id, str(uuid.uuid4()))
        user.subscribed = bool(body.get("subscriptions"))
        _merge(user, properties)
        self.users[external_id] = user
        return _answer(201, _view(user))

    def _properties_problem(self, properties: dict[str, Any]) -> str | None:
        tags = properties.get("tags") or {}
        if not isinstance(tags, dict):
            return "tags must be an object"
        changes = len(tags) + len([k for k in properties if k != "tags"])
        if changes > self.config.max_property_changes:
            self.violate(ViolationKind.BATCH_SIZE, "users", f"{changes} property changes")
            return f"at most {self.config.max_property_changes} property changes per request"
        for key, value in tags.items():
            if not isinstance(value, str | int | float):
                return f"tag {key!r}: values are strings or numbers"
        return None


def _merge(user: OneSignalUser, properties: dict[str, Any]) -> None:
    for key, value in properties.items():
        if key != "tags":
            user.properties[key] = value
    for key, value in (properties.get("tags") or {}).items():
        if value == "":
            user.tags.pop(key, None)
        else:
            user.tags[key] = str(value)


def _view(user: OneSignalUser) -> dict[str, Any]:
    return {
        "identity": {"onesignal_id": user.onesignal_id, "external_id": user.external_id},
        "properties": user.properties,
        "subscriptions": [{"type": "iOSPush", "enabled": True}] if user.subscribed else [],
    }


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def create_onesignal_app(
    config: OneSignalSandboxConfig | None = None, clock: Clock | None = None
) -> OneSignalSandbox:
    return OneSignalSandbox(config or OneSignalSandboxConfig(), clock or SystemClock())
