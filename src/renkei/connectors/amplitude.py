"""Amplitude: events (HTTP V2 API) and user properties (Identify API).

Contract (amplitude.com/docs/apis/analytics/http-v2, /identify): the ingestion host
``https://api2.amplitude.com`` (EU: ``https://api.eu.amplitude.com``); the project API key
travels in the body (``api_key``), never in a header.

- ``POST /2/httpapi`` ``{"api_key", "events": [...], "options"?}``: fewer than 2,000 events
  and under 1 MB per request (more is a 413). Each event needs ``event_type`` and a
  ``user_id`` or ``device_id`` of at least 5 characters; ``insert_id`` deduplicates (sent
  again after a timeout, an event is not counted twice). A 400 rejects the whole request
  and names the bad events (``events_with_invalid_fields``/``events_with_missing_fields``:
  field → indices): those become per-record errors and the others are sent again. A 429
  means a device or user of the request is throttled (``throttled_devices``,
  ``throttled_users``, ``throttled_events``); Amplitude says to wait 30 seconds.
- ``POST /identify`` form ``api_key``, ``identification`` (a JSON array): user properties
  without an event (``$set``, ``$setOnce``, ``$add``, ``$unset``...). HTTP V2's limits and
  status codes apply; after a 429 Amplitude says to wait 15 seconds.
- ``POST /api/2/deletions/users`` (User Privacy API, amplitude.com/docs/apis/analytics/
  user-privacy) on another host, ``https://amplitude.com`` (EU:
  ``https://analytics.eu.amplitude.com``), with Basic auth ``api_key:secret_key``: JSON
  ``{"user_ids", "amplitude_ids", "requester", "ignore_invalid_id"}``, at most 100 ids a
  request. Amplitude stages a deletion job (it runs days later) and answers
  ``{"day", "status": "staging", "amplitude_ids": [{"amplitude_id", ...}]}``: the users it
  found. Without the secret key the deletion fails (a request cannot be authenticated),
  saying so, rather than pass as "not applicable".
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode

import httpx

from renkei.clock import Clock
from renkei.connectors._vendor import run_chunks
from renkei.connectors.auth import Auth, Send
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
    Operation,
    OperationResult,
    RateLimitSpec,
    RecordOk,
    RecordResult,
)
from renkei.connectors.sync_objects import PushProfiles
from renkei.egress.retry_after import parse_retry_after

__all__ = [
    "EVENTS_PER_REQUEST",
    "MAX_REQUEST_BYTES",
    "USER_ID",
    "AmplitudeConnector",
    "AmplitudeRejected",
    "plan_requests",
]

EVENTS_PER_REQUEST = 2000
IDS_PER_DELETION = 100
DELETIONS_PATH = "/api/2/deletions/users"
MAX_REQUEST_BYTES = 1_000_000
USER_ID = "amplitude_user_id"
_HTTPAPI_WAIT = 30.0  # "stop sending events for 30 seconds" after a 429
_IDENTIFY_WAIT = 15.0
_ATTEMPTS = 3  # a 400 names bad events; the rest is sent again, at most this often  # "pause ... for 15 seconds" after a 429 of /identify
_ID = {"type": "string", "minLength": 5}
_IDENTIFIED = [{"required": ["user_id"]}, {"required": ["device_id"]}]
EVENT_RECORD: dict[str, Any] = {
    "type": "object",
    "required": ["event_type"],
    "anyOf": _IDENTIFIED,
    "properties": {
        "event_type": {"type": "string", "minLength": 1, "maxLength": 1024},
        "user_id": _ID,
        "device_id": _ID,
        "time": {"type": "integer", "minimum": 0, "description": "epoch milliseconds"},
        "insert_id": {"type": "string", "minLength": 1},
        "event_properties": {"type": "object"},
        "user_properties": {"type": "object"},
        "groups": {"type": "object"},
        "revenue": {"type": "number"},
        "price": {"type": "number"},
        "quantity": {"type": "integer"},
        "productId": {"type": "string"},
    },
}
IDENTIFICATION_RECORD: dict[str, Any] = {
    "type": "object",
    "anyOf": _IDENTIFIED,
    "required": ["user_properties"],
    "properties": {
        "user_id": _ID,
        "device_id": _ID,
        "user_properties": {"type": "object", "minProperties": 1},
    },
}
# What a sync push sends: the profile's email and mapped fields, flat.
PROFILE_RECORD: dict[str, Any] = {
    "type": "object",
    "required": ["email"],
    "properties": {
        "email": {"type": "string", "minLength": 5},
        "user_id": {"type": ["string", "null"], "minLength": 5},  # None: the email
    },
}


DELETE_USERS_INPUT: dict[str, Any] = {
    "type": "object",
    "description": "Users to delete by Amplitude user id (at most 100); the project's data "
    "about them goes once Amplitude runs the staged job",
    "required": ["user_ids"],
    "additionalProperties": False,
    "properties": {
        "user_ids": {
            "type": "array",
            "minItems": 1,
            "maxItems": IDS_PER_DELETION,
            "items": {"type": "string", "minLength": 1},
        },
        "requester": {"type": "string", "maxLength": 255},
    },
}


def _deletion_input(person: PersonIds) -> dict[str, Any] | None:
    """The user ids Renkei may have sent: the person's user ids, the Amplitude user ids
    syncs recorded, and emails (a sync push without user_id uses the email)."""
    ids = list(dict.fromkeys((*person.user_ids, *person.vendor(USER_ID), *person.emails)))
    ids = [i for i in ids if len(i) >= 5][:IDS_PER_DELETION]  # shorter ids never reach it
    return {"user_ids": ids, "requester": "renkei"} if ids else None


class AmplitudeRejected(PermanentError):
    """A 400 that names bad events: index in the request → why."""

    def __init__(self, message: str, invalid: Mapping[int, str]) -> None:
        super().__init__(message, code="400", status_code=400)
        self.invalid = dict(invalid)


class BodyKeyAuth(Auth):
    """Amplitude's key is a body field: added to the JSON or form body of every request;
    the User Privacy API takes Basic auth, the key and the secret key, instead."""

    def __init__(self, key: str, secret_key: str | None = None) -> None:
        self._key = key
        self._secret_key = secret_key

    @property
    def has_secret_key(self) -> bool:
        return bool(self._secret_key)

    async def apply(self, request: httpx.Request, send: Send) -> None:
        if request.url.path.endswith(DELETIONS_PATH):
            if not self._secret_key:
                raise ConfigurationError(_NO_SECRET, code="missing_secret_key")
            pair = f"{self._key}:{self._secret_key}".encode()
            request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
            return
        raw = request.read()
        kind = request.headers.get("Content-Type", "")
        if kind.startswith("application/json"):
            body = json.loads(raw or b"{}")
            body["api_key"] = self._key
            new = json.dumps(body, separators=(",", ":")).encode()
        else:
            fields = [(k, v) for k, v in parse_qsl(raw.decode()) if k != "api_key"]
            new = urlencode([("api_key", self._key), *fields]).encode()
        request.stream = httpx.ByteStream(new)
        request._content = new  # read() cached the old body
        request.headers["Content-Length"] = str(len(new))

    def secrets(self) -> tuple[str, ...]:
        return (self._key, self._secret_key) if self._secret_key else (self._key,)


_NO_SECRET = (
    "Amplitude's User Privacy API needs the project's secret key: add secret_key to the "
    "connection's credentials"
)


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), default=str)) + 1


def plan_requests(items: Sequence[Any], limit: int = EVENTS_PER_REQUEST) -> list[list[int]]:
    """Indices per request: fewer than ``limit`` items and under 1 MB of JSON."""
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 200  # the envelope: api_key, options
    for index, item in enumerate(items):
        grows = _size(item)
        if current and (len(current) >= limit or size + grows > MAX_REQUEST_BYTES):
            chunks.append(current)
            current, size = [], 200
        current.append(index)
        size += grows
    if current:
        chunks.append(current)
    return chunks


def _rejected(body: Mapping[str, Any]) -> dict[int, str]:
    invalid: dict[int, str] = {}
    for key, what in (
        ("events_with_invalid_fields", "invalid"),
        ("events_with_missing_fields", "missing"),
    ):
        for field_name, indices in (body.get(key) or {}).items():
            for index in indices if isinstance(indices, list) else []:
                if isinstance(index, int):
                    invalid.setdefault(index, f"{what} field {field_name!r}")
    return invalid


class AmplitudeConnector(Connector):
    person_deletion = PersonDeletion("delete_users", _deletion_input)
    spec = ConnectorSpec(
        name="amplitude",
        title="Amplitude",
        docs_url="https://amplitude.com/docs/apis/analytics/http-v2",
        credentials=(
            Field("api_key", "The project's API key (Settings → Projects)", secret=True),
            Field(
                "secret_key",
                "The project's secret key: only deleting users (User Privacy API) needs it",
                secret=True,
                required=False,
            ),
        ),
        config=(
            Field(
                "base_url",
                "https://api2.amplitude.com, or https://api.eu.amplitude.com for EU projects",
                required=False,
                default="https://api2.amplitude.com",
            ),
            Field(
                "privacy_url",
                "The User Privacy API host: https://amplitude.com, or "
                "https://analytics.eu.amplitude.com for EU projects",
                required=False,
                default="https://amplitude.com",
            ),
        ),
        operations=(
            Operation(
                "upload_events",
                "Send events (HTTP V2); requests of fewer than 2,000 events and under 1 MB. "
                "insert_id (filled in when missing) deduplicates retries",
                EVENT_RECORD,
                batchable=True,
                max_batch_size=10_000,
                id_field="insert_id",
            ),
            Operation(
                "identify_users",
                "Update user properties without an event (Identify API); user_properties "
                "takes Amplitude's operations ($set, $setOnce, $add, $unset...)",
                IDENTIFICATION_RECORD,
                batchable=True,
                max_batch_size=EVENTS_PER_REQUEST,
            ),
            Operation(
                "set_user_properties",
                "Set a profile's fields as user properties ($set) through Identify; the user "
                "is user_id when given, else the email (what syncs push)",
                PROFILE_RECORD,
                batchable=True,
                max_batch_size=EVENTS_PER_REQUEST,
            ),
            Operation(
                "delete_users",
                "Delete users and their data (User Privacy API, Basic auth with the secret "
                "key); Amplitude stages the job and runs it later; answers how many users "
                "it found",
                DELETE_USERS_INPUT,
            ),
        ),
        # Amplitude throttles per device and user, not per project; a bound of our own.
        rate_limit=RateLimitSpec(calls=100, per_seconds=1.0, concurrency=10),
    )
    sync_objects = (
        PushProfiles(
            "users", write="set_user_properties", identity=USER_ID, batch_size=EVENTS_PER_REQUEST
        ),
    )
    limits_notes: ClassVar[tuple[str, ...]] = (
        "fewer than 2,000 events and under 1 MB per /2/httpapi request (413 beyond)",
        "429 when a device or user is throttled: wait 30 s (15 s for /identify)",
        "user properties of one user: at most 1,800 updates an hour (Amplitude drops more)",
        "Amplitude publishes no project-wide request rate: Renkei sends at most 100/s",
    )

    def base_url(self, config: Mapping[str, Any]) -> str:
        return str(config.get("base_url") or "https://api2.amplitude.com").rstrip("/")

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        return BodyKeyAuth(
            connection.credentials["api_key"], connection.credentials.get("secret_key") or None
        )

    def classify(self, response: httpx.Response, now: datetime) -> ConnectorError | None:
        status = response.status_code
        if status < 300:
            return None
        path = response.request.url.path
        where = f"HTTP {status} from Amplitude {path}"
        body = _json(response)
        error = str(body.get("error") or response.text[:200] or "")
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
            if retry_after is None:
                retry_after = _IDENTIFY_WAIT if path.endswith("/identify") else _HTTPAPI_WAIT
            throttled = sorted({*(body.get("throttled_users") or {}),
                                *(body.get("throttled_devices") or {})})  # fmt: skip
            detail = f" ({len(throttled)} users/devices over the threshold)" if throttled else ""
            return RateLimitedError(
                f"{where}: throttled{detail}", retry_after=retry_after, code="429", status_code=429
            )
        if status == 400 and ("api key" in error.lower() or "api_key" in error.lower()):
            return ConfigurationError(f"{where}: {error}", code="invalid_api_key", status_code=400)
        if status in (401, 403):
            return ConfigurationError(f"{where}: {error}", code=str(status), status_code=status)
        if status == 400 and (invalid := _rejected(body)):
            return AmplitudeRejected(f"{where}: {error}", invalid)
        return None  # the default mapping: 413 and other 4xx permanent, 5xx retried

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        """An Identify with no identification: Amplitude checks the key first, then answers
        400 for the missing field, so it records nothing."""
        try:
            await ctx.http.request(
                "POST", "/identify", operation="test", data={"identification": "[]"}
            )
        except ConfigurationError:
            raise
        except PermanentError as exc:
            if exc.status_code != 400:
                raise
        return {"base_url": self.base_url(ctx.config), "api_key": "accepted"}

    # --- operations --------------------------------------------------------------------

    async def upload_events(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        async def post(items: Sequence[Mapping[str, Any]]) -> httpx.Response:
            return await ctx.http.request(
                "POST", "/2/httpapi", operation="upload_events", json={"events": list(items)}
            )

        # Submissions through the queue carry one already; a direct call gets one here, so
        # a request resent after a timeout is still counted once.
        events = [
            r if r.get("insert_id") else {**r, "insert_id": str(uuid.uuid4())} for r in records
        ]
        return await self._send(events, post)

    async def identify_users(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        return await self._send(records, _identify(ctx, "identify_users"))

    async def set_user_properties(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        user_ids = [str(record.get("user_id") or record["email"]) for record in records]
        identifications = [
            {
                "user_id": user_id,
                "user_properties": {
                    "$set": {k: v for k, v in record.items() if k != "user_id" and v is not None}
                },
            }
            for user_id, record in zip(user_ids, records, strict=True)
        ]
        result = await self._send(identifications, _identify(ctx, "set_user_properties"))
        return OperationResult(
            records=tuple(
                RecordOk(r.index, id=user_ids[r.index], status="updated") if r.ok else r
                for r in result.records
            ),
            data=result.data,
        )

    async def delete_users(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        auth = ctx.http.auth
        if not (isinstance(auth, BodyKeyAuth) and auth.has_secret_key):
            raise ConfigurationError(_NO_SECRET, code="missing_secret_key")
        host = str(ctx.config.get("privacy_url") or "https://amplitude.com").rstrip("/")
        body = {
            "user_ids": list(input["user_ids"]),
            "requester": str(input.get("requester") or "renkei"),
            # Ids Amplitude never saw are skipped rather than failing the whole job; Amplitude
            # reads its booleans from strings here.
            "ignore_invalid_id": "true",
        }
        response = await ctx.http.request(
            "POST", host + DELETIONS_PATH, operation="delete_users", json=body
        )
        answer = _json(response)
        found = answer.get("amplitude_ids")
        return OperationResult(
            data={
                "deleted": len(found) if isinstance(found, list) else 0,
                "asynchronous": True,
                "status": answer.get("status"),
            }
        )

    async def _send(self, items: Sequence[Mapping[str, Any]], post: Post) -> OperationResult:
        chunks = plan_requests(items)

        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            out: dict[int, RecordResult] = {}
            sending = list(chunk)
            # A 400 names the bad items and rejects the rest with them: send the rest again.
            for _ in range(_ATTEMPTS):
                try:
                    await post([items[i] for i in sending])
                except AmplitudeRejected as exc:
                    bad = {sending[p]: why for p, why in exc.invalid.items() if p < len(sending)}
                    if not bad:
                        raise
                    out.update({i: RecordError(i, "amplitude_rejected", w) for i, w in bad.items()})
                    sending = [i for i in sending if i not in bad]
                    if not sending:
                        return out
                    continue
                out.update({i: RecordOk(i, status="accepted") for i in sending})
                return out
            # Each answer named other events: give up on the rest rather than loop on.
            reason = f"not sent: Amplitude rejected the request {_ATTEMPTS} times"
            out.update({i: RecordError(i, "amplitude_rejected", reason) for i in sending})
            return out

        results = await run_chunks(chunks, send)
        return OperationResult(
            records=tuple(results[i] for i in sorted(results)), data={"requests": len(chunks)}
        )


Post = Callable[[Sequence[Mapping[str, Any]]], Awaitable[httpx.Response]]


def _identify(ctx: CallContext, operation: str) -> Post:
    async def post(items: Sequence[Mapping[str, Any]]) -> httpx.Response:
        return await ctx.http.request(
            "POST",
            "/identify",
            operation=operation,
            data={"identification": json.dumps(list(items), separators=(",", ":"))},
        )

    return post


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
