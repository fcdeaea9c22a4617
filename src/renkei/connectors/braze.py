"""Braze: ``POST /users/track`` (user attributes, custom events, purchases).

Contract (braze.com/docs/api/endpoints/user_data/post_user_track, /api/api_limits,
/api/errors): the REST endpoint of the account's instance (``https://rest.iad-01.braze.com``),
``Authorization: Bearer <REST API key>`` with the ``users.track`` permission, at most 75
attribute, 75 event and 75 purchase objects per request (accounts on the newer limit: 75
objects in total), 3,000 requests per 3 seconds. A successful call answers 201
``{"message": "success", "errors": [{"type", "input_array", "index"}]}``: the listed objects
were dropped, every other one is queued. ``X-RateLimit-Limit/-Remaining/-Reset`` (reset as
UTC epoch seconds) come with responses and a 429 when the window is spent.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from renkei.clock import Clock
from renkei.connectors._vendor import AdvertisedWindow, AllOf, run_chunks
from renkei.connectors.auth import Auth, BearerAuth
from renkei.connectors.deletion import PersonDeletion, PersonIds
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    RateLimitedError,
    RecordError,
)
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
from renkei.egress.retry_after import parse_retry_after

__all__ = ["ARRAYS", "OBJECTS_PER_REQUEST", "BrazeConnector", "plan_requests"]

OBJECTS_PER_REQUEST = 75
USER_KEY = "braze_user"
"""The identity a push attaches: the user's external_id when the sync maps one, else the
email Braze identifies the user by."""
ARRAYS = ("attributes", "events", "purchases")
_IDENTIFIED = [
    {"required": [key]} for key in ("external_id", "user_alias", "braze_id", "email", "phone")
]
_IDENTIFIERS: dict[str, Any] = {
    "external_id": {"type": "string", "minLength": 1},
    "braze_id": {"type": "string", "minLength": 1},
    "email": {"type": "string", "minLength": 1},
    "phone": {"type": "string", "minLength": 1},
    "user_alias": {
        "type": "object",
        "required": ["alias_name", "alias_label"],
        "properties": {"alias_name": {"type": "string"}, "alias_label": {"type": "string"}},
    },
}
ATTRIBUTES_OBJECT: dict[str, Any] = {
    "type": "object",
    "anyOf": _IDENTIFIED,
    "properties": {**_IDENTIFIERS, "_update_existing_only": {"type": "boolean"}},
}
EVENT_OBJECT: dict[str, Any] = {
    "type": "object",
    "anyOf": _IDENTIFIED,
    "required": ["name", "time"],
    "properties": {
        **_IDENTIFIERS,
        "name": {"type": "string", "minLength": 1},
        "time": {"type": "string", "description": "ISO 8601 date-time"},
        "properties": {"type": "object"},
        "app_id": {"type": "string"},
        "_update_existing_only": {"type": "boolean"},
    },
}
PURCHASE_OBJECT: dict[str, Any] = {
    "type": "object",
    "anyOf": _IDENTIFIED,
    "required": ["product_id", "currency", "price", "time"],
    "properties": {
        **_IDENTIFIERS,
        "product_id": {"type": "string", "minLength": 1},
        "currency": {"type": "string", "minLength": 3, "maxLength": 3},
        "price": {"type": "number"},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 100},
        "time": {"type": "string", "description": "ISO 8601 date-time"},
        "properties": {"type": "object"},
        "app_id": {"type": "string"},
        "_update_existing_only": {"type": "boolean"},
    },
}
_OBJECT_SCHEMAS = {
    "attributes": ATTRIBUTES_OBJECT,
    "events": EVENT_OBJECT,
    "purchases": PURCHASE_OBJECT,
}
USERS_DELETE_INPUT: dict[str, Any] = {
    "type": "object",
    "description": "Users to delete by external id and by email; Braze takes one kind of "
    "identifier per request, up to 50 of them",
    "properties": {
        "external_ids": {"type": "array", "items": {"type": "string"}, "maxItems": 50},
        "email_addresses": {"type": "array", "items": {"type": "string"}, "maxItems": 50},
    },
    "minProperties": 1,
    "additionalProperties": False,
}
USERS_TRACK_INPUT: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {name: {"type": "array", "items": {"type": "object"}} for name in ARRAYS},
}

# One object of a users_track call: which array it belongs to and the object itself.
Item = tuple[str, Mapping[str, Any]]


def plan_requests(items: Sequence[Item], mode: str) -> list[list[int]]:
    """Indices of ``items`` per request: at most 75 of each array (``"per_array"``), or 75
    in all (``"combined"``), keeping the input order within each array."""
    if mode == "combined":
        order = sorted(range(len(items)), key=lambda i: (ARRAYS.index(items[i][0]), i))
        return [
            order[start : start + OBJECTS_PER_REQUEST]
            for start in range(0, len(order), OBJECTS_PER_REQUEST)
        ]
    per_array = {name: [i for i, (kind, _) in enumerate(items) if kind == name] for name in ARRAYS}
    count = max((math.ceil(len(v) / OBJECTS_PER_REQUEST) for v in per_array.values()), default=0)
    return [
        [
            i
            for name in ARRAYS
            for i in per_array[name][n * OBJECTS_PER_REQUEST : (n + 1) * OBJECTS_PER_REQUEST]
        ]
        for n in range(count)
    ]


def _deletion_input(person: PersonIds) -> dict[str, Any] | None:
    body = {
        "external_ids": list(person.user_ids[:50]),
        "email_addresses": list(person.emails[:50]),
    }
    return {k: v for k, v in body.items() if v} or None


class BrazeConnector(Connector):
    person_deletion = PersonDeletion("users_delete", _deletion_input)
    spec = ConnectorSpec(
        name="braze",
        title="Braze",
        docs_url="https://www.braze.com/docs/api/endpoints/user_data/post_user_track",
        credentials=(
            Field("api_key", "REST API key with the users.track permission", secret=True),
        ),
        config=(
            Field(
                "instance_url",
                "REST endpoint of the account's instance, e.g. https://rest.iad-01.braze.com",
            ),
            Field(
                "object_limit",
                "per_array: 75 attributes, 75 events and 75 purchases per request (the "
                "documented default); combined: 75 objects in total (newer accounts)",
                required=False,
                default="per_array",
            ),
        ),
        operations=(
            Operation(
                "users_track",
                "Record attributes, custom events and purchases; any number of objects, sent "
                "75 per array per request. Results are per object: attributes first, then "
                "events, then purchases, each in input order.",
                USERS_TRACK_INPUT,
            ),
            Operation(
                "users_delete",
                "Delete user profiles (POST /users/delete) by external id and by email, one "
                "request per kind of identifier; answers how many Braze deleted",
                USERS_DELETE_INPUT,
            ),
            Operation(
                "track_attributes",
                "Update user profile attributes (one object per user)",
                ATTRIBUTES_OBJECT,
                batchable=True,
                max_batch_size=OBJECTS_PER_REQUEST,
            ),
            Operation(
                "update_users",
                "What syncs push: one attributes object per person (by email, and "
                "external_id when mapped); the outcome's id is the external_id, else the email",
                ATTRIBUTES_OBJECT,
                batchable=True,
                max_batch_size=OBJECTS_PER_REQUEST,
            ),
            Operation(
                "track_events",
                "Record custom events",
                EVENT_OBJECT,
                batchable=True,
                max_batch_size=OBJECTS_PER_REQUEST,
            ),
            Operation(
                "track_purchases",
                "Record purchases",
                PURCHASE_OBJECT,
                batchable=True,
                max_batch_size=OBJECTS_PER_REQUEST,
            ),
        ),
        rate_limit=RateLimitSpec(calls=3000, per_seconds=3.0),
    )
    limits_notes: ClassVar[tuple[str, ...]] = (
        "75 attribute, 75 event and 75 purchase objects per /users/track request "
        "(75 in total with object_limit=combined)",
        "3,000 requests per 3 seconds per workspace; X-RateLimit-Remaining/-Reset are obeyed",
    )

    sync_objects = (
        PushProfiles(
            "users", write="update_users", identity=USER_KEY, batch_size=OBJECTS_PER_REQUEST
        ),
    )

    _advertised: AdvertisedWindow | None = None

    def base_url(self, config: Mapping[str, Any]) -> str:
        return str(config["instance_url"]).rstrip("/")

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        return BearerAuth(connection.credentials["api_key"])

    def prepare(self, connection: Connection, options: OpenOptions) -> tuple[Connector, Connection]:
        """Add a limiter that obeys Braze's rate-limit headers."""
        if options.rate_limiter is None and self.spec.rate_limit is not None:
            options.rate_limiter = self.spec.rate_limit.in_memory(options.clock)
        bound = copy.copy(self)
        bound._advertised = AdvertisedWindow(options.clock)
        options.rate_limiter = AllOf(options.rate_limiter, bound._advertised)
        return bound, connection

    def classify(self, response: httpx.Response, now: datetime) -> ConnectorError | None:
        reset = _float(response.headers.get("X-RateLimit-Reset"))
        remaining = _float(response.headers.get("X-RateLimit-Remaining"))
        if self._advertised is not None and remaining is not None:
            self._advertised.observe(int(remaining), reset)
        status = response.status_code
        where = f"HTTP {status} from Braze {response.request.url.path}"
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
            if retry_after is None and reset is not None:
                retry_after = max(0.0, reset - now.timestamp())
            return RateLimitedError(
                f"{where}: rate limited", retry_after=retry_after, code="429", status_code=429
            )
        if status in (401, 403):
            return ConfigurationError(
                f"{where}: {_fatal_message(response) or 'the REST API key was refused'}",
                code=str(status),
                status_code=status,
            )
        if 400 <= status < 500 and status != 408:
            return PermanentError(
                f"{where}: {_fatal_message(response) or 'request rejected'}",
                code=str(status),
                status_code=status,
            )
        if status < 300:
            body = response.json()
            if isinstance(body, dict) and body.get("message") != "success":
                return PermanentError(f"{where}: {body.get('message')}", code="fatal")
        return None

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        """An empty ``/users/track``: Braze checks the key first, then answers 400 for the
        missing data, so a 400 proves the key without recording anything."""
        try:
            await ctx.http.request("POST", "/users/track", operation="test", json={})
        except ConfigurationError:
            raise
        except PermanentError as exc:
            if exc.status_code != 400:
                raise
        return {"instance_url": ctx.config["instance_url"], "api_key": "accepted"}

    # --- operations --------------------------------------------------------------------

    async def users_track(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        items: list[Item] = [(name, obj) for name in ARRAYS for obj in input.get(name, [])]
        results: dict[int, RecordResult] = {}
        valid: list[int] = []
        for index, (kind, obj) in enumerate(items):
            if problem := self.spec.operation(f"track_{kind}").input_problem(obj):
                results[index] = RecordError(index, "invalid_input", f"{kind}: {problem}")
            else:
                valid.append(index)
        return await self._track(items, valid, results, ctx)

    async def users_delete(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        deleted = 0
        for kind in ("external_ids", "email_addresses"):
            if values := input.get(kind):
                response = await ctx.http.request(
                    "POST", "/users/delete", operation="users_delete", json={kind: list(values)}
                )
                count = response.json().get("deleted")
                deleted += count if isinstance(count, int) else 0
        return OperationResult(data={"deleted": deleted})

    async def track_attributes(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        return await self._track_one("attributes", records, ctx)

    async def update_users(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        result = await self._track_one("attributes", records, ctx)
        return OperationResult(
            records=tuple(
                RecordOk(r.index, id=_user_key(records[r.index]), status="updated")
                if isinstance(r, RecordOk)
                else r
                for r in result.records
            ),
            data=result.data,
        )

    async def track_events(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        return await self._track_one("events", records, ctx)

    async def track_purchases(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        return await self._track_one("purchases", records, ctx)

    async def _track_one(
        self, kind: str, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        items = [(kind, record) for record in records]
        return await self._track(items, list(range(len(items))), {}, ctx)

    async def _track(
        self,
        items: Sequence[Item],
        valid: Sequence[int],
        results: dict[int, RecordResult],
        ctx: CallContext,
    ) -> OperationResult:
        chunks = [
            [valid[i] for i in chunk]
            for chunk in plan_requests([items[i] for i in valid], str(ctx.config["object_limit"]))
        ]
        processed = dict.fromkeys(ARRAYS, 0)

        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            body: dict[str, list[Mapping[str, Any]]] = {}
            positions: dict[tuple[str, int], int] = {}
            for index in chunk:
                kind, obj = items[index]
                positions[(kind, len(body.setdefault(kind, [])))] = index
                body[kind].append(obj)
            response = await ctx.http.request(
                "POST", "/users/track", operation="users_track", json=body
            )
            answer = response.json()
            for kind in ARRAYS:
                count = answer.get(f"{kind}_processed")
                processed[kind] += count if isinstance(count, int) else 0
            out: dict[int, RecordResult] = {i: RecordOk(i, status="queued") for i in chunk}
            for error in answer.get("errors") or []:
                where = _error_position(error)
                if where is not None and where in positions:
                    index = positions[where]
                    out[index] = RecordError(index, "braze_error", str(error.get("type")))
            return out

        results.update(await run_chunks(chunks, send))
        ordered = tuple(results[i] for i in sorted(results))
        return OperationResult(
            records=ordered,
            data={"requests": len(chunks), **{f"{k}_processed": v for k, v in processed.items()}},
        )


def _error_position(error: Any) -> tuple[str, int] | None:
    if not isinstance(error, dict):
        return None
    kind, index = error.get("input_array"), error.get("index")
    if isinstance(kind, str) and isinstance(index, int):
        return kind, index
    return None


def _fatal_message(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    parts = [str(body["message"])] if isinstance(body.get("message"), str) else []
    errors = body.get("errors")
    if isinstance(errors, list):
        parts += [e if isinstance(e, str) else str(e.get("type", e)) for e in errors[:3]]
    return "; ".join(parts)[:300] or None


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _user_key(record: Mapping[str, Any]) -> str | None:
    key = record.get("external_id") or record.get("email")
    return None if key is None else str(key)
