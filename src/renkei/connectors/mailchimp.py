"""Mailchimp Marketing API 3.0: audience members, their tags and events.

Contract (mailchimp.com/developer/marketing): ``https://<dc>.api.mailchimp.com/3.0`` where
``<dc>`` is the API key's suffix (``…-us21``); HTTP Basic auth with any user name and the
key as password; at most 10 simultaneous connections per account (more earns a 429);
errors are ``application/problem+json`` (``type``, ``title``, ``status``, ``detail``,
``instance``). Members are addressed by the MD5 hash of the lower-cased email address.

- ``PUT /lists/{list_id}/members/{hash}`` adds or updates one member; ``status_if_new`` is
  used only when the address is new, so an unsubscribed person stays unsubscribed.
- ``POST /lists/{list_id}/members/{hash}/tags`` activates or removes tags.
- ``POST /lists/{list_id}`` upserts up to 500 members (``update_existing``) and reports
  ``new_members``, ``updated_members`` and per-address ``errors``.
- ``POST /lists/{list_id}/members/{hash}/events`` records a member event.
- ``GET /lists/{list_id}/members`` pages with ``offset``/``count`` (at most 1,000) and
  ``total_items``; ``since_last_changed`` reads what changed since a time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from renkei.clock import Clock
from renkei.connectors._vendor import run_chunks
from renkei.connectors.auth import Auth, BasicAuth
from renkei.connectors.deletion import PersonDeletion, PersonIds
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    RecordError,
)
from renkei.connectors.pagination import OffsetPaginator, paginate
from renkei.connectors.spec import (
    CallContext,
    Connection,
    Connector,
    ConnectorSpec,
    Field,
    OpenOptions,
    Operation,
    OperationResult,
    RateLimitSpec,
    RecordOk,
    RecordResult,
)
from renkei.connectors.sync_objects import PushProfiles

__all__ = [
    "BATCH_SIZE",
    "MAX_CONCURRENT",
    "PAGE_SIZE",
    "MailchimpConnector",
    "api_base_url",
    "subscriber_hash",
]

BATCH_SIZE = 500
MEMBER_ID = "mailchimp_member_id"
"""The identity a push attaches: the member's id (MD5 of the lower-cased address)."""
PAGE_SIZE = 1000
MAX_CONCURRENT = 10
STATUSES = ["subscribed", "unsubscribed", "cleaned", "pending", "transactional"]
_DATA_CENTER = re.compile(r"^[a-z]+[0-9]+$")
_EVENT_NAME = "^[A-Za-z0-9_-]{2,30}$"


def subscriber_hash(email: str) -> str:
    """The id Mailchimp gives a member: MD5 of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def api_base_url(api_key: str) -> str:
    """``https://us21.api.mailchimp.com/3.0`` for a key ending in ``-us21``."""
    _, _, data_center = api_key.rpartition("-")
    if not _DATA_CENTER.match(data_center):
        raise ConfigurationError(
            "the Mailchimp API key has no data-center suffix (like -us21)", code="invalid_api_key"
        )
    return f"https://{data_center}.api.mailchimp.com/3.0"


_TAG_NAMES: dict[str, Any] = {"type": "array", "items": {"type": "string", "minLength": 1}}
_MEMBER_FIELDS: dict[str, Any] = {
    "list_id": {"type": "string", "description": "audience id; defaults to the connection's"},
    "email_address": {"type": "string", "minLength": 3},
    "status": {"enum": STATUSES},
    "status_if_new": {"enum": STATUSES},
    "email_type": {"enum": ["html", "text"]},
    "merge_fields": {"type": "object"},
    "interests": {"type": "object", "additionalProperties": {"type": "boolean"}},
    "language": {"type": "string"},
    "vip": {"type": "boolean"},
    "location": {"type": "object"},
    "tags": _TAG_NAMES,
}
MEMBER: dict[str, Any] = {
    "type": "object",
    "required": ["email_address"],
    "anyOf": [{"required": ["status_if_new"]}, {"required": ["status"]}],
    "properties": {**_MEMBER_FIELDS, "skip_merge_validation": {"type": "boolean"}},
    "additionalProperties": False,
}
SYNC_MEMBER: dict[str, Any] = {
    "type": "object",
    "description": "A profile as syncs push it: email; status sets the member's status (else "
    "a new address joins as transactional and an existing one keeps its status); language, "
    "vip and tags as Mailchimp's; any other field is a merge field (its tag upper-cased)",
    "required": ["email"],
    "properties": {
        "email": {"type": "string", "minLength": 3},
        "status": {"enum": STATUSES},
        "language": {"type": "string"},
        "vip": {"type": "boolean"},
        "tags": _TAG_NAMES,
    },
}
BATCH_MEMBER: dict[str, Any] = {
    "type": "object",
    "required": ["email_address", "status"],
    "properties": _MEMBER_FIELDS,
    "additionalProperties": False,
}
TAGS_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["email_address", "tags"],
    "properties": {
        "list_id": {"type": "string"},
        "email_address": {"type": "string"},
        "tags": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "status"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "status": {"enum": ["active", "inactive"]},
                },
            },
        },
        "is_syncing": {"type": "boolean"},
    },
    "additionalProperties": False,
}
EVENT_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["email_address", "name"],
    "properties": {
        "list_id": {"type": "string"},
        "email_address": {"type": "string"},
        "name": {"type": "string", "pattern": _EVENT_NAME},
        "properties": {"type": "object", "additionalProperties": {"type": "string"}},
        "occurred_at": {"type": "string", "description": "ISO 8601 date-time"},
        "is_syncing": {"type": "boolean"},
    },
    "additionalProperties": False,
}
LIST_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "list_id": {"type": "string"},
        "since_last_changed": {"type": "string", "description": "ISO 8601 date-time"},
        "status": {"enum": [*STATUSES, "archived"]},
        "page_size": {"type": "integer", "minimum": 1, "maximum": PAGE_SIZE},
        "offset": {"type": "integer", "minimum": 0},
        "max_pages": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
}


DELETE_MEMBERS: dict[str, Any] = {
    "type": "object",
    "required": ["emails"],
    "properties": {
        "emails": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 100},
        "list_id": {"type": "string", "description": "default: the connection's list"},
    },
    "additionalProperties": False,
}


def _deletion_input(person: PersonIds) -> dict[str, Any] | None:
    return {"emails": list(person.emails[:100])} if person.emails else None


class MailchimpConnector(Connector):
    person_deletion = PersonDeletion("delete_members_permanently", _deletion_input)
    spec = ConnectorSpec(
        name="mailchimp",
        title="Mailchimp",
        docs_url="https://mailchimp.com/developer/marketing/api/list-members/",
        credentials=(
            Field(
                "api_key",
                "Marketing API key; its suffix (e.g. -us21) names the data center",
                secret=True,
            ),
        ),
        config=(
            Field("list_id", "Default audience (list) id", required=False),
            Field(
                "api_base_url",
                "Override the API root derived from the key (a proxy, or the sandbox)",
                required=False,
            ),
        ),
        operations=(
            Operation(
                "upsert_member",
                "Add or update one member (PUT by subscriber hash); status_if_new applies to "
                "new addresses only; tags are then activated",
                MEMBER,
            ),
            Operation(
                "upsert_members",
                "Add or update up to 500 members in one call (POST /lists/{list_id}, "
                "update_existing); status is applied to existing members too",
                BATCH_MEMBER,
                batchable=True,
                max_batch_size=BATCH_SIZE,
            ),
            Operation(
                "push_members",
                "What syncs push: add or update each person as a member of the connection's "
                "audience (PUT by subscriber hash, so no one's consent status is overwritten "
                "unless the sync maps status)",
                SYNC_MEMBER,
                batchable=True,
                max_batch_size=BATCH_SIZE,
            ),
            Operation("update_member_tags", "Activate or remove a member's tags", TAGS_INPUT),
            Operation("add_member_event", "Record an event on a member", EVENT_INPUT),
            Operation(
                "delete_members_permanently",
                "Permanently delete members by email (POST .../members/{hash}/actions/"
                "delete-permanent); an address not on the list counts as done",
                DELETE_MEMBERS,
            ),
            Operation(
                "list_members",
                "Read members (changed since a time), oldest change first, 1,000 a page",
                LIST_INPUT,
                kind="read",
            ),
        ),
        rate_limit=RateLimitSpec(calls=None, concurrency=MAX_CONCURRENT),
    )
    sync_objects = (
        PushProfiles("members", write="push_members", identity=MEMBER_ID, batch_size=BATCH_SIZE),
    )
    limits_notes: ClassVar[tuple[str, ...]] = (
        "10 simultaneous connections per account",
        "500 members per batch upsert; 1,000 members per page",
    )

    def base_url(self, config: Mapping[str, Any]) -> str:
        return str(config["api_base_url"]).rstrip("/")

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        # Mailchimp ignores the user name; the key is the password.
        return BasicAuth("renkei", connection.credentials["api_key"])

    def prepare(self, connection: Connection, options: OpenOptions) -> tuple[Connector, Connection]:
        """Take the API root from the key's data center."""
        if not connection.config.get("api_base_url"):
            base = api_base_url(connection.credentials.get("api_key") or "")
            connection = replace(connection, config={**connection.config, "api_base_url": base})
        return self, connection

    def classify(self, response: httpx.Response, now: datetime) -> ConnectorError | None:
        if response.status_code == 403:
            problem = response.json()
            detail = problem.get("detail") if isinstance(problem, dict) else None
            return ConfigurationError(
                f"HTTP 403 from Mailchimp: {detail or 'forbidden'}", code="403", status_code=403
            )
        return None

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        """``GET /ping``: proves the key and its data center."""
        response = await ctx.http.request("GET", "/ping", operation="test")
        return {"health_status": response.json().get("health_status")}

    # --- operations --------------------------------------------------------------------

    async def upsert_member(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        list_id = _list_id(input, ctx)
        email = str(input["email_address"])
        member = _member_body(input, exclude={"list_id", "tags", "skip_merge_validation"})
        params = {"skip_merge_validation": "true"} if input.get("skip_merge_validation") else None
        response = await ctx.http.request(
            "PUT",
            _member_path(list_id, email),
            operation="upsert_member",
            json=member,
            params=params,
        )
        body = response.json()
        if tags := input.get("tags"):
            await self._set_tags(
                ctx, list_id, email, [{"name": t, "status": "active"} for t in tags], False
            )
            body["tags"] = [*body.get("tags", []), *({"name": t} for t in tags)]
        record = RecordOk(
            0, id=str(body.get("id") or subscriber_hash(email)), status=body.get("status")
        )
        return OperationResult(records=(record,), data=body)

    async def upsert_members(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        groups: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            groups.setdefault(_list_id(record, ctx), []).append(index)
        chunks = [(list_id, indices) for list_id, indices in groups.items()]

        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            list_id = _list_id(records[chunk[0]], ctx)
            members = [_member_body(records[i], exclude={"list_id"}) for i in chunk]
            response = await ctx.http.request(
                "POST",
                f"/lists/{quote(list_id, safe='')}",
                operation="upsert_members",
                json={"members": members, "update_existing": True},
            )
            return _batch_results(response.json(), chunk, records)

        results = await run_chunks([indices for _, indices in chunks], send)
        return OperationResult(records=tuple(results[i] for i in sorted(results)))

    async def push_members(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            index = chunk[0]
            result = await self.upsert_member(_as_member(records[index]), ctx)
            return {index: replace(result.records[0], index=index)}

        results = await run_chunks([[i] for i in range(len(records))], send)
        return OperationResult(records=tuple(results[i] for i in sorted(results)))

    async def update_member_tags(
        self, input: Mapping[str, Any], ctx: CallContext
    ) -> OperationResult:
        list_id = _list_id(input, ctx)
        email = str(input["email_address"])
        await self._set_tags(ctx, list_id, email, input["tags"], bool(input.get("is_syncing")))
        return OperationResult(records=(RecordOk(0, id=subscriber_hash(email), status="tagged"),))

    async def add_member_event(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        list_id = _list_id(input, ctx)
        email = str(input["email_address"])
        body = {k: v for k, v in input.items() if k not in ("list_id", "email_address")}
        await ctx.http.request(
            "POST",
            f"{_member_path(list_id, email)}/events",
            operation="add_member_event",
            json=body,
        )
        return OperationResult(records=(RecordOk(0, id=subscriber_hash(email), status="recorded"),))

    async def delete_members_permanently(
        self, input: Mapping[str, Any], ctx: CallContext
    ) -> OperationResult:
        list_id = _list_id(input, ctx)
        deleted = 0
        for email in dict.fromkeys(str(e).strip().lower() for e in input["emails"]):
            try:
                await ctx.http.request(
                    "POST",
                    f"{_member_path(list_id, email)}/actions/delete-permanent",
                    operation="delete_members_permanently",
                )
            except PermanentError as exc:
                if exc.status_code != 404:
                    raise
                continue  # not a member of this list: nothing to delete
            deleted += 1
        return OperationResult(data={"deleted": deleted})

    async def list_members(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        list_id = _list_id(input, ctx)
        size = int(input.get("page_size", PAGE_SIZE))
        paginator = OffsetPaginator(
            size, offset=int(input.get("offset", 0)), records_path="members"
        )
        params: dict[str, Any] = {"sort_field": "last_changed", "sort_dir": "ASC"}
        for name in ("since_last_changed", "status"):
            if input.get(name):
                params[name] = input[name]

        async def send(page: dict[str, Any]) -> httpx.Response:
            return await ctx.http.request(
                "GET",
                f"/lists/{quote(list_id, safe='')}/members",
                operation="list_members",
                params=page,
            )

        members: list[dict[str, Any]] = []
        total = 0
        async for body in paginate(send, paginator, params, max_pages=input.get("max_pages")):
            members += body.get("members", [])
            total = int(body.get("total_items", total))
        last = max((str(m.get("last_changed", "")) for m in members), default=None)
        return OperationResult(
            data={
                "records": members,
                "total_items": total,
                "next_offset": paginator.offset if paginator.has_more else None,
                "last_changed": last or None,
            }
        )

    async def _set_tags(
        self,
        ctx: CallContext,
        list_id: str,
        email: str,
        tags: Sequence[Mapping[str, Any]],
        is_syncing: bool,
    ) -> None:
        await ctx.http.request(
            "POST",
            f"{_member_path(list_id, email)}/tags",
            operation="update_member_tags",
            json={"tags": [dict(t) for t in tags], "is_syncing": is_syncing},
        )


def _list_id(input: Mapping[str, Any], ctx: CallContext) -> str:
    list_id = input.get("list_id") or ctx.config.get("list_id")
    if not list_id:
        raise PermanentError("no list_id in the input or the connection", code="invalid_input")
    return str(list_id)


def _member_path(list_id: str, email: str) -> str:
    return f"/lists/{quote(list_id, safe='')}/members/{subscriber_hash(email)}"


def _as_member(record: Mapping[str, Any]) -> dict[str, Any]:
    """A pushed record as an ``upsert_member`` input."""
    member: dict[str, Any] = {"email_address": str(record["email"])}
    if record.get("status"):
        member["status"] = record["status"]
    else:
        member["status_if_new"] = "transactional"  # no consent is implied by a sync
    merge: dict[str, Any] = {}
    for key, value in record.items():
        if key in ("language", "vip", "tags"):
            member[key] = value
        elif key not in ("email", "status") and value is not None:
            merge[key.upper()] = value
    if merge:
        member["merge_fields"] = merge
    return member


def _member_body(record: Mapping[str, Any], *, exclude: set[str]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in exclude}


def _batch_results(
    answer: Mapping[str, Any], chunk: Sequence[int], records: Sequence[Mapping[str, Any]]
) -> dict[int, RecordResult]:
    """Map ``new_members``/``updated_members``/``errors`` (by address) to record indices."""
    by_email: dict[str, list[int]] = {}
    for index in chunk:
        by_email.setdefault(str(records[index]["email_address"]).strip().lower(), []).append(index)
    out: dict[int, RecordResult] = {}

    def settle(email: Any, result: RecordResult) -> None:
        for index in by_email.get(str(email).strip().lower(), []):
            if index not in out:
                out[index] = replace(result, index=index)

    for member in answer.get("new_members") or []:
        settle(member.get("email_address"), RecordOk(0, id=member.get("id"), status="created"))
    for member in answer.get("updated_members") or []:
        settle(member.get("email_address"), RecordOk(0, id=member.get("id"), status="updated"))
    for error in answer.get("errors") or []:
        code = str(error.get("error_code") or "ERROR_GENERIC")
        message = str(error.get("error") or "rejected")
        if error.get("field"):
            message += f" ({error['field']}: {error.get('field_message', '')})"
        settle(error.get("email_address"), RecordError(0, code, message))
    return out
