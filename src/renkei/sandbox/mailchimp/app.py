"""The Mailchimp sandbox's pipeline and routes, under ``/3.0``.

Each call: injected faults, the API key (HTTP Basic, any user name; 401 "API Key
Missing"/"API Key Invalid"), the 10-connection limit (429 and a violation past it, counting
requests in flight, held ones included), then the endpoint. Errors are problem documents.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import JSONResponse, Response

from renkei.clock import Clock, SystemClock
from renkei.sandbox._base import BadBody, VendorSandbox, json_body
from renkei.sandbox._common import Call, ViolationKind, parse_datetime
from renkei.sandbox.mailchimp.state import (
    MailchimpError,
    MailchimpSandboxConfig,
    MailchimpState,
    Member,
    MemberEvent,
    invalid,
    not_found,
    subscriber_hash,
)

_PROBLEM = "application/problem+json"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"^/3\.0/ping$"), "ping"),
    ("POST", re.compile(r"^/3\.0/lists/(?P<list>[^/]+)$"), "batch"),
    ("GET", re.compile(r"^/3\.0/lists/(?P<list>[^/]+)/members$"), "list_members"),
    ("GET", re.compile(r"^/3\.0/lists/(?P<list>[^/]+)/members/(?P<hash>[^/]+)$"), "get_member"),
    ("PUT", re.compile(r"^/3\.0/lists/(?P<list>[^/]+)/members/(?P<hash>[^/]+)$"), "put_member"),
    ("POST", re.compile(r"^/3\.0/lists/(?P<list>[^/]+)/members/(?P<hash>[^/]+)/tags$"), "tags"),
    ("POST", re.compile(r"^/3\.0/lists/(?P<list>[^/]+)/members/(?P<hash>[^/]+)/events$"), "events"),
    (
        "POST",
        re.compile(
            r"^/3\.0/lists/(?P<list>[^/]+)/members/(?P<hash>[^/]+)/actions/delete-permanent$"
        ),
        "delete_permanent",
    ),
]
_SORT_FIELDS = {"timestamp_opt", "timestamp_signup", "last_changed"}

Handler = Callable[[Call, dict[str, str]], Awaitable[tuple[int, Any]]]


class MailchimpSandbox(VendorSandbox[MailchimpSandboxConfig]):
    def __init__(self, config: MailchimpSandboxConfig, clock: Clock) -> None:
        super().__init__(config, clock)
        self.state = MailchimpState(config, clock)
        if config.seed_members:
            self.state.seed(config.lists[0], config.seed_members)

    def connection_help(self, base_url: str) -> str:
        return (
            f"Mailchimp sandbox at {base_url}\n"
            f"  api_base_url: {base_url}/3.0   list_id: {', '.join(self.config.lists)}\n"
            f"  api_key: {self.config.api_key}  (HTTP Basic, any user name)"
        )

    # --- inspection --------------------------------------------------------------------

    def members(self, list_id: str | None = None) -> dict[str, Member]:
        return self.state.members(list_id or self.config.lists[0])

    def member(self, email: str, list_id: str | None = None) -> Member | None:
        return self.members(list_id).get(subscriber_hash(email))

    @property
    def events(self) -> list[MemberEvent]:
        return self.state.events

    def seed_members(self, count: int, *, spacing_seconds: float = 1.0) -> list[Member]:
        return self.state.seed(self.config.lists[0], count, spacing_seconds=spacing_seconds)

    # --- pipeline ----------------------------------------------------------------------

    def fault_body(self, status: int) -> Any:
        titles = {
            429: "Too Many Requests",
            500: "Internal Server Error",
            503: "Service Unavailable",
        }
        return MailchimpError(status, titles.get(status, "Bad Request"), "Injected fault").problem()

    def fault_headers(self, status: int) -> dict[str, str]:
        return {"Content-Type": _PROBLEM}

    async def handle(self, call: Call) -> Response:
        try:
            name, params = _route(call)
            self._authenticate(call)
            if self.in_flight > self.config.max_connections:
                self.violate(
                    ViolationKind.CONCURRENCY,
                    f"{call.method} {call.path}",
                    f"{self.in_flight} in flight",
                )
                raise MailchimpError(
                    429,
                    "Too Many Requests",
                    f"You have exceeded the limit of {self.config.max_connections} simultaneous connections.",
                )
            await self.admitted()
            handler: Handler = getattr(self, f"_{name}")
            status, body = await handler(call, params)
        except MailchimpError as exc:
            return JSONResponse(exc.problem(), status_code=exc.status, media_type=_PROBLEM)
        except BadBody as exc:
            error = MailchimpError(400, "JSON Parse Exception", exc.detail)
            return JSONResponse(error.problem(), status_code=400, media_type=_PROBLEM)
        if body is None:
            return Response(status_code=status)
        return JSONResponse(body, status_code=status)

    def _authenticate(self, call: Call) -> None:
        scheme, _, value = call.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not value:
            raise MailchimpError(401, "API Key Missing", "Your request did not include an API key.")
        try:
            _, _, key = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            key = ""
        if key != self.config.api_key:
            raise MailchimpError(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )

    # --- endpoints ---------------------------------------------------------------------

    async def _ping(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        return 200, {"health_status": "Everything's Chimpy!"}

    async def _put_member(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        body = _object(call)
        if subscriber_hash(str(body.get("email_address", ""))) != params["hash"].lower():
            raise invalid("The subscriber hash in the URL does not match the email_address.")
        member, _ = self.state.upsert(params["list"], body, status_if_new=body.get("status_if_new"))
        return 200, member.to_json()

    async def _get_member(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        return 200, self.state.member(params["list"], params["hash"]).to_json()

    async def _delete_permanent(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        self.state.delete_permanent(params["list"], params["hash"])
        return 204, None

    async def _tags(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        body = _object(call)
        member = self.state.member(params["list"], params["hash"])
        tags = body.get("tags")
        if not isinstance(tags, list):
            raise invalid(
                "The resource submitted could not be validated.",
                [{"field": "tags", "message": "This value should be of type iterable."}],
            )
        self.state.set_tags(member, tags)
        return 204, None

    async def _events(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        member = self.state.member(params["list"], params["hash"])
        self.state.add_event(member, _object(call))
        return 204, None

    async def _batch(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        body = _object(call)
        list_id = params["list"]
        self.state.members(list_id)
        members = body.get("members")
        if not isinstance(members, list):
            raise invalid(
                "The resource submitted could not be validated.",
                [{"field": "members", "message": "This value should be of type array."}],
            )
        if len(members) > self.config.batch_limit:
            self.violate(ViolationKind.BATCH_SIZE, f"POST {call.path}", f"{len(members)} members")
            raise invalid(
                f"You can only add or update {self.config.batch_limit} members per request.",
                [{"field": "members", "message": f"at most {self.config.batch_limit}"}],
            )
        update = bool(body.get("update_existing"))
        answer: dict[str, Any] = {"new_members": [], "updated_members": [], "errors": []}
        for item in members:
            email = item.get("email_address") if isinstance(item, dict) else None
            try:
                if not isinstance(item, dict):
                    raise invalid("Each member must be an object.")
                if item.get("status") is None:
                    raise invalid("Status is required.")
                member, created = self.state.upsert(
                    list_id, item, status_if_new=None, update_existing=update
                )
                if item.get("tags"):
                    self.state.set_tags(member, item["tags"], replace=bool(body.get("sync_tags")))
            except MailchimpError as exc:
                exists = "already a list member" in exc.detail
                error: dict[str, Any] = {
                    "email_address": email,
                    "error": exc.detail,
                    "error_code": "ERROR_CONTACT_EXISTS" if exists else "ERROR_GENERIC",
                }
                if exc.errors:
                    error["field"] = exc.errors[0]["field"]
                    error["field_message"] = exc.errors[0]["message"]
                answer["errors"].append(error)
                continue
            answer["new_members" if created else "updated_members"].append(member.to_json())
        answer.update(
            total_created=len(answer["new_members"]),
            total_updated=len(answer["updated_members"]),
            error_count=len(answer["errors"]),
            _links=[],
        )
        return 200, answer

    async def _list_members(self, call: Call, params: dict[str, str]) -> tuple[int, Any]:
        list_id = params["list"]
        query = call.query
        count = _integer(query.get("count", "10"), "count")
        offset = _integer(query.get("offset", "0"), "offset")
        if count > self.config.page_limit:
            self.violate(ViolationKind.PAGE_SIZE, f"GET {call.path}", f"count={count}")
            raise invalid(f"count must be at most {self.config.page_limit}.")
        members = list(self.state.members(list_id).values())
        if status := query.get("status"):
            members = [m for m in members if m.status == status]
        for name, keep in (("since_last_changed", True), ("before_last_changed", False)):
            if raw := query.get(name):
                moment = parse_datetime(raw)
                if moment is None:
                    raise invalid(f"{name} must be an ISO 8601 date-time.")
                members = [m for m in members if (m.last_changed > moment) == keep]
        sort_field = query.get("sort_field")
        if sort_field is not None:
            if sort_field not in _SORT_FIELDS:
                raise invalid(f"sort_field must be one of {', '.join(sorted(_SORT_FIELDS))}.")
            key = "timestamp_opt" if sort_field == "timestamp_signup" else sort_field
            members.sort(key=lambda m: (getattr(m, key), m.web_id))
            if query.get("sort_dir", "ASC").upper() == "DESC":
                members.reverse()
        self.counters.pages_served[f"{list_id}:{offset}:{count}"] += 1
        return 200, {
            "members": [m.to_json() for m in members[offset : offset + count]],
            "list_id": list_id,
            "total_items": len(members),
            "_links": [],
        }


def _route(call: Call) -> tuple[str, dict[str, str]]:
    path = call.path.rstrip("/")
    allowed = False
    for method, pattern, name in _ROUTES:
        match = pattern.match(path)
        if match is None:
            continue
        if method == call.method:
            return name, match.groupdict()
        allowed = True
    if allowed:
        raise MailchimpError(
            405, "Method Not Allowed", "The requested method and resource are not compatible."
        )
    raise not_found()


def _object(call: Call) -> dict[str, Any]:
    body = json_body(call)
    if not isinstance(body, dict):
        raise BadBody("The request body must be a JSON object.")
    return body


def _integer(raw: str, name: str) -> int:
    if not raw.isdigit():
        raise invalid(f"{name} must be a non-negative integer.")
    return int(raw)


def create_mailchimp_app(
    config: MailchimpSandboxConfig | None = None, clock: Clock | None = None
) -> MailchimpSandbox:
    return MailchimpSandbox(config or MailchimpSandboxConfig(), clock or SystemClock())
