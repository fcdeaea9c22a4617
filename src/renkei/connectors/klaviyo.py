"""Klaviyo API (JSON:API, revisioned): profiles and events.

Contract (developers.klaviyo.com, and the OpenAPI files of klaviyo/openapi that tests
validate every request against): ``https://a.klaviyo.com``, ``Authorization:
Klaviyo-API-Key <private key>``, a ``revision`` header on every call, JSON:API bodies
(``application/vnd.api+json``). Rate limits are per account and per endpoint, in two
fixed windows, burst (1 s) and steady (1 min); going over either earns a 429 with
``Retry-After``.

=============================  ===============================  ==============
endpoint                       operation                        burst / steady
=============================  ===============================  ==============
POST /api/profile-import       upsert_profile(s)                75/s, 750/m
POST /api/events               create_event(s)                  350/s, 3500/m
POST /api/profile-bulk-import  bulk_import_profiles (≤10,000)   10/s, 150/m
GET  /api/profiles             list_profiles (cursor, ≤100)     75/s, 750/m
=============================  ===============================  ==============

Each endpoint's steady window is a rate-limit pool of the spec, so the runtime shares it
between every worker through the database (and a connection's ``limits.pools`` can change
it). The burst window is kept in process, per connection, across calls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from renkei.clock import Clock
from renkei.connectors._vendor import NextLinkPaginator, SlidingWindow, Window, dig, run_chunks
from renkei.connectors.auth import APIKeyAuth, Auth
from renkei.connectors.deletion import PersonDeletion, PersonIds
from renkei.connectors.errors import ConfigurationError, ConnectorError, RecordError
from renkei.connectors.pagination import paginate
from renkei.connectors.retry import Backoff, retry
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
    "BULK_MAX_BYTES",
    "BULK_MAX_PROFILES",
    "ENDPOINT_LIMITS",
    "PAGE_SIZE",
    "REVISION",
    "KlaviyoConnector",
]

REVISION = "2026-07-15"
JSON_API = "application/vnd.api+json"
PAGE_SIZE = 100
BULK_MAX_PROFILES = 10_000
BULK_MAX_BYTES = 5 * 1024 * 1024
BATCH_SIZE = 100
PROFILE_ID = "klaviyo_profile_id"
_BULK_DONE = frozenset({"complete", "cancelled"})

# Burst and steady windows per endpoint, from each operation's x-klaviyo-ratelimit.
ENDPOINT_LIMITS: dict[str, tuple[Window, Window]] = {
    "profile_import": (Window(75, 1.0, "burst"), Window(750, 60.0, "steady")),
    "create_event": (Window(350, 1.0, "burst"), Window(3500, 60.0, "steady")),
    "bulk_import": (Window(10, 1.0, "burst"), Window(150, 60.0, "steady")),
    "bulk_import_status": (Window(10, 1.0, "burst"), Window(150, 60.0, "steady")),
    "get_profiles": (Window(75, 1.0, "burst"), Window(750, 60.0, "steady")),
    "data_privacy_deletion": (Window(3, 1.0, "burst"), Window(60, 60.0, "steady")),
}

_LOCATION: dict[str, Any] = {
    "type": "object",
    "properties": {
        key: {"type": ["string", "null"]}
        for key in ("address1", "address2", "city", "country", "region", "zip", "timezone", "ip")
    }
    | {
        "latitude": {"type": ["string", "number", "null"]},
        "longitude": {"type": ["string", "number", "null"]},
    },
    "additionalProperties": False,
}
_PROFILE_ATTRIBUTES: dict[str, Any] = {
    **{
        key: {"type": ["string", "null"]}
        for key in (
            "email",
            "phone_number",
            "external_id",
            "_kx",
            "first_name",
            "last_name",
            "organization",
            "locale",
            "title",
            "image",
        )
    },
    "location": {"anyOf": [_LOCATION, {"type": "null"}]},
    "properties": {"type": ["object", "null"]},
}
_IDENTIFIED = [{"required": [key]} for key in ("id", "email", "phone_number", "external_id")]
PROFILE: dict[str, Any] = {
    "type": "object",
    "anyOf": _IDENTIFIED,
    "properties": {
        "id": {"type": "string"},
        "meta": {"type": "object"},
        **_PROFILE_ATTRIBUTES,
    },
    "additionalProperties": False,
}
SYNC_PROFILE: dict[str, Any] = {
    "type": "object",
    "description": "A profile as syncs push it: Klaviyo's own attributes (email, first_name, "
    "external_id ...) at the top, any other field becomes a custom property",
    "required": ["email"],
    "properties": {"email": {"type": "string", "minLength": 3}},
}
EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["metric", "profile"],
    "properties": {
        "metric": {"type": "string", "minLength": 1, "maxLength": 127},
        "profile": {
            "type": "object",
            "anyOf": [*_IDENTIFIED, {"required": ["anonymous_id"]}],
            "properties": {"id": {"type": "string"}, "anonymous_id": {"type": "string"}}
            | _PROFILE_ATTRIBUTES,
            "additionalProperties": False,
        },
        "properties": {"type": "object"},
        "time": {"type": "string", "description": "ISO 8601 date-time"},
        "value": {"type": "number"},
        "value_currency": {"type": "string"},
        "unique_id": {
            "type": "string",
            "description": "dedupe key; defaults to a hash of the event, so a retry is "
            "never counted twice",
        },
    },
    "additionalProperties": False,
}
LIST_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "updated_after": {"type": "string", "description": "ISO 8601 date-time"},
        "page_size": {"type": "integer", "minimum": 1, "maximum": PAGE_SIZE},
        "max_pages": {"type": "integer", "minimum": 1},
        "cursor": {"type": "string", "description": "page[cursor] to resume from"},
    },
    "additionalProperties": False,
}


@dataclass(frozen=True)
class _Job:
    id: str
    status: str


DELETION_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["emails"],
    "properties": {
        "emails": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 50}
    },
    "additionalProperties": False,
}


def _deletion_input(person: PersonIds) -> dict[str, Any] | None:
    return {"emails": list(person.emails[:50])} if person.emails else None


class KlaviyoConnector(Connector):
    person_deletion = PersonDeletion("request_profile_deletion", _deletion_input)
    spec = ConnectorSpec(
        name="klaviyo",
        title="Klaviyo",
        docs_url="https://developers.klaviyo.com/en/reference/api_overview",
        credentials=(Field("api_key", "Private API key (pk_...)", secret=True),),
        config=(
            Field("revision", "API revision header", required=False, default=REVISION),
            Field("base_url", "API root", required=False, default="https://a.klaviyo.com"),
            Field(
                "burst_limits",
                "Per-endpoint calls per second instead of the documented burst windows, e.g. "
                '{"profile_import": 75} (steady windows are the connection\'s rate-limit pools)',
                required=False,
            ),
            Field(
                "bulk_wait_seconds",
                "How long bulk_import_profiles waits for its job to finish to report "
                "per-profile errors (0: don't wait; bulk_import_job reads it later)",
                required=False,
                default=30,
            ),
        ),
        operations=(
            Operation("upsert_profile", "Create or update one profile", PROFILE),
            Operation(
                "upsert_profiles",
                "Create or update profiles, one call each, with an outcome per profile",
                PROFILE,
                batchable=True,
                max_batch_size=BATCH_SIZE,
            ),
            Operation(
                "bulk_import_profiles",
                "Create or update up to 10,000 profiles as one bulk import job (at most 5 MB "
                "per job); waits for the job and reports its per-profile errors",
                PROFILE,
                batchable=True,
                max_batch_size=BULK_MAX_PROFILES,
            ),
            Operation(
                "push_profiles",
                "What syncs push: create or update profiles by email, fields that are not "
                "Klaviyo attributes set as custom properties",
                SYNC_PROFILE,
                batchable=True,
                max_batch_size=BATCH_SIZE,
            ),
            Operation("create_event", "Record one event on a profile", EVENT),
            Operation(
                "create_events",
                "Record events, one call each, with an outcome per event",
                EVENT,
                batchable=True,
                max_batch_size=BATCH_SIZE,
                id_field="unique_id",
            ),
            Operation(
                "bulk_import_job",
                "A bulk import job's status and its per-profile errors (by position)",
                {
                    "type": "object",
                    "required": ["job_id"],
                    "properties": {"job_id": {"type": "string", "minLength": 1}},
                    "additionalProperties": False,
                },
                kind="read",
            ),
            Operation(
                "request_profile_deletion",
                "Request the deletion of every profile with each email (POST /api/"
                "data-privacy-deletion-jobs, one per email); Klaviyo deletes asynchronously",
                DELETION_INPUT,
            ),
            Operation(
                "list_profiles",
                "Read profiles updated after a time, oldest update first (cursor paging)",
                LIST_INPUT,
                kind="read",
            ),
        ),
        rate_limit_pools={
            name: RateLimitSpec(calls=steady.calls, per_seconds=steady.per_seconds)
            for name, (_, steady) in ENDPOINT_LIMITS.items()
        },
    )
    operation_limits: ClassVar[Mapping[str, tuple[Window, ...]]] = {
        "upsert_profile": ENDPOINT_LIMITS["profile_import"],
        "upsert_profiles": ENDPOINT_LIMITS["profile_import"],
        "push_profiles": ENDPOINT_LIMITS["profile_import"],
        "bulk_import_profiles": ENDPOINT_LIMITS["bulk_import"],
        "bulk_import_job": ENDPOINT_LIMITS["bulk_import_status"],
        "create_event": ENDPOINT_LIMITS["create_event"],
        "create_events": ENDPOINT_LIMITS["create_event"],
        "list_profiles": ENDPOINT_LIMITS["get_profiles"],
        "request_profile_deletion": ENDPOINT_LIMITS["data_privacy_deletion"],
    }
    sync_objects = (
        PushProfiles("profiles", write="push_profiles", identity=PROFILE_ID, batch_size=BATCH_SIZE),
    )
    limits_notes: ClassVar[tuple[str, ...]] = (
        "per account and endpoint, fixed burst (1 s) and steady (1 min) windows; "
        "429 with Retry-After is honoured",
        "100 profiles per page; 10,000 profiles and 5 MB per bulk import job",
    )

    def base_url(self, config: Mapping[str, Any]) -> str:
        return str(config["base_url"]).rstrip("/")

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        return APIKeyAuth(
            connection.credentials["api_key"], name="Authorization", prefix="Klaviyo-API-Key "
        )

    def classify(self, response: httpx.Response, now: datetime) -> ConnectorError | None:
        if response.status_code in (401, 403):
            error = dig(response.json(), "errors.0") or {}
            return ConfigurationError(
                f"HTTP {response.status_code} from Klaviyo: "
                f"{error.get('detail') or error.get('title') or 'credentials refused'}",
                code=str(error.get("code") or response.status_code),
                status_code=response.status_code,
            )
        return None

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        """Read one profile: proves the key, its profiles:read scope and the revision."""
        response = await self._send(
            ctx, "get_profiles", "GET", "/api/profiles", "test", params={"page[size]": 1}
        )
        return {"profiles_visible": len(response.json().get("data") or [])}

    def prepare(self, connection: Connection, options: OpenOptions) -> tuple[Connector, Connection]:
        """``backoff`` also bounds waits for a burst window."""
        self.__dict__.setdefault("_backoffs", {})[connection.name] = options.backoff or Backoff()
        return self, connection

    async def _send(
        self,
        ctx: CallContext,
        endpoint: str,
        method: str,
        path: str,
        operation: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """One call of ``endpoint``: a slot of its burst window (waited for in process when
        short, else a RateLimitedError that parks the job), then of its steady pool."""
        burst = self._burst(ctx, endpoint)
        backoff: Backoff = self.__dict__.get("_backoffs", {}).get(ctx.connection, Backoff())

        async def take() -> None:
            burst.take()

        await retry(take, backoff=backoff, clock=ctx.clock)
        return await ctx.http.request(
            method,
            path,
            operation=operation,
            json=json,
            params=params,
            headers=_headers(ctx, body=json is not None),
            pool=endpoint,
        )

    def _burst(self, ctx: CallContext, endpoint: str) -> SlidingWindow:
        """The connection's burst window for ``endpoint``, kept across contexts (one per
        job) so that back-to-back jobs share it, like :meth:`Connector.cached_auth`."""
        calls = _burst_calls(ctx.config.get("burst_limits"), endpoint)
        key = (ctx.connection, endpoint, calls, id(ctx.clock))
        windows: dict[tuple[Any, ...], SlidingWindow] = self.__dict__.setdefault("_bursts", {})
        window = windows.get(key)
        if window is None:
            for stale in [k for k in windows if k[:2] == key[:2]]:
                del windows[stale]
            burst = ENDPOINT_LIMITS[endpoint][0]
            window = windows[key] = SlidingWindow(calls, burst.per_seconds, ctx.clock)
        return window

    # --- profiles ----------------------------------------------------------------------

    async def upsert_profile(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        return OperationResult(records=(await self._import_profile(0, input, ctx),))

    async def upsert_profiles(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            return {chunk[0]: await self._import_profile(chunk[0], records[chunk[0]], ctx)}

        results = await run_chunks([[i] for i in range(len(records))], send)
        return OperationResult(records=tuple(results[i] for i in sorted(results)))

    async def push_profiles(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        return await self.upsert_profiles([_as_profile(record) for record in records], ctx)

    async def _import_profile(
        self, index: int, record: Mapping[str, Any], ctx: CallContext
    ) -> RecordResult:
        response = await self._send(
            ctx,
            "profile_import",
            "POST",
            "/api/profile-import",
            "upsert_profile",
            json={"data": _profile_resource(record)},
        )
        status = "created" if response.status_code == 201 else "updated"
        return RecordOk(index, id=dig(response.json(), "data.id"), status=status)

    async def bulk_import_profiles(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        jobs: list[dict[str, Any]] = []

        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            job = await self._start_bulk_job([records[i] for i in chunk], ctx)
            if job.status not in _BULK_DONE:
                job = await self._wait_for_job(job, ctx)
            jobs.append({"id": job.id, "status": job.status, "profiles": len(chunk)})
            if job.status != "complete":
                return {i: RecordOk(i, id=job.id, status=job.status) for i in chunk}
            failed = await self._import_errors(job.id, ctx)
            out: dict[int, RecordResult] = {}
            for position, index in enumerate(chunk):
                if position in failed:
                    out[index] = RecordError(index, *failed[position])
                else:
                    out[index] = RecordOk(index, id=job.id, status="imported")
            return out

        results = await run_chunks(_size_chunks(records), send)
        return OperationResult(records=tuple(results[i] for i in sorted(results)), data=jobs)

    async def _start_bulk_job(
        self, profiles: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> _Job:
        body = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": [_profile_resource(p) for p in profiles]}},
            }
        }
        response = await self._send(
            ctx,
            "bulk_import",
            "POST",
            "/api/profile-bulk-import-jobs",
            "bulk_import_profiles",
            json=body,
        )
        return _job(response.json())

    async def _wait_for_job(self, job: _Job, ctx: CallContext) -> _Job:
        waited, delay = 0.0, 1.0
        budget = float(ctx.config.get("bulk_wait_seconds") or 0)
        while job.status not in _BULK_DONE and waited < budget:
            await ctx.clock.sleep(delay)
            waited += delay
            delay = min(delay * 2, 30.0)
            response = await self._send(
                ctx,
                "bulk_import_status",
                "GET",
                f"/api/profile-bulk-import-jobs/{quote(job.id, safe='')}",
                "bulk_import_profiles",
            )
            job = _job(response.json())
        return job

    async def _import_errors(self, job_id: str, ctx: CallContext) -> dict[int, tuple[str, str]]:
        """Errors of a finished job by the position of the profile in the job."""

        async def send(params: dict[str, Any]) -> httpx.Response:
            return await self._send(
                ctx,
                "bulk_import_status",
                "GET",
                f"/api/profile-bulk-import-jobs/{quote(job_id, safe='')}/import-errors",
                "bulk_import_profiles",
                params=params,
            )

        failed: dict[int, tuple[str, str]] = {}
        async for page in paginate(send, NextLinkPaginator()):
            for error in page.get("data") or []:
                attributes = error.get("attributes") or {}
                pointer = str(dig(attributes, "source.pointer") or "")
                position = pointer.rstrip("/").rsplit("/", 1)[-1]
                if position.isdigit():
                    failed[int(position)] = (
                        str(attributes.get("code") or "invalid"),
                        str(attributes.get("detail") or attributes.get("title") or "rejected"),
                    )
        return failed

    async def bulk_import_job(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        job_id = str(input["job_id"])
        response = await self._send(
            ctx,
            "bulk_import_status",
            "GET",
            f"/api/profile-bulk-import-jobs/{quote(job_id, safe='')}",
            "bulk_import_job",
        )
        attributes = dig(response.json(), "data.attributes") or {}
        errors = (
            await self._import_errors(job_id, ctx) if attributes.get("status") == "complete" else {}
        )
        return OperationResult(
            data={
                "job": {"id": job_id, **attributes},
                "errors": [
                    {"position": position, "code": code, "detail": detail}
                    for position, (code, detail) in sorted(errors.items())
                ],
            }
        )

    # --- events ------------------------------------------------------------------------

    async def create_event(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        return OperationResult(records=(await self._create_event(0, input, ctx),))

    async def create_events(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            return {chunk[0]: await self._create_event(chunk[0], records[chunk[0]], ctx)}

        results = await run_chunks([[i] for i in range(len(records))], send)
        return OperationResult(records=tuple(results[i] for i in sorted(results)))

    async def _create_event(
        self, index: int, event: Mapping[str, Any], ctx: CallContext
    ) -> RecordResult:
        unique_id = str(event.get("unique_id") or _event_hash(event))
        attributes: dict[str, Any] = {
            "properties": dict(event.get("properties") or {}),
            "metric": {"data": {"type": "metric", "attributes": {"name": event["metric"]}}},
            "profile": {"data": _profile_resource(event["profile"])},
            "unique_id": unique_id,
        }
        for name in ("time", "value", "value_currency"):
            if name in event:
                attributes[name] = event[name]
        await self._send(
            ctx,
            "create_event",
            "POST",
            "/api/events",
            "create_event",
            json={"data": {"type": "event", "attributes": attributes}},
        )
        return RecordOk(index, id=unique_id, status="accepted")

    # --- reading -----------------------------------------------------------------------

    async def request_profile_deletion(
        self, input: Mapping[str, Any], ctx: CallContext
    ) -> OperationResult:
        requested = 0
        for email in dict.fromkeys(str(e).strip().lower() for e in input["emails"]):
            body = {
                "data": {
                    "type": "data-privacy-deletion-job",
                    "attributes": {
                        "profile": {"data": {"type": "profile", "attributes": {"email": email}}}
                    },
                }
            }
            await self._send(
                ctx,
                "data_privacy_deletion",
                "POST",
                "/api/data-privacy-deletion-jobs",
                "request_profile_deletion",
                json=body,
            )
            requested += 1
        return OperationResult(data={"deleted": requested, "asynchronous": True})

    async def list_profiles(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        params: dict[str, Any] = {"sort": "updated", "page[size]": input.get("page_size", 100)}
        if input.get("updated_after"):
            params["filter"] = f"greater-than(updated,{input['updated_after']})"
        if input.get("cursor"):
            params["page[cursor]"] = input["cursor"]
        paginator = NextLinkPaginator()

        async def send(page: dict[str, Any]) -> httpx.Response:
            return await self._send(
                ctx, "get_profiles", "GET", "/api/profiles", "list_profiles", params=page
            )

        profiles: list[dict[str, Any]] = []
        async for body in paginate(send, paginator, params, max_pages=input.get("max_pages")):
            profiles += body.get("data") or []
        next_cursor = None
        if paginator.has_more and paginator.next_url:
            next_page: dict[str, Any] = {}
            paginator.update_request(next_page)
            next_cursor = next_page.get("page[cursor]")
        updated = [
            str(dig(p, "attributes.updated")) for p in profiles if dig(p, "attributes.updated")
        ]
        return OperationResult(
            data={
                "records": profiles,
                "next_cursor": next_cursor,
                "last_updated": max(updated, default=None),
            }
        )


def _headers(ctx: CallContext, *, body: bool = False) -> dict[str, str]:
    headers = {"revision": str(ctx.config["revision"]), "Accept": JSON_API}
    if body:
        headers["Content-Type"] = JSON_API
    return headers


def _as_profile(record: Mapping[str, Any]) -> dict[str, Any]:
    """A pushed record as a PROFILE: Klaviyo's attributes kept, the rest as properties."""
    profile: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for key, value in record.items():
        if key in _PROFILE_ATTRIBUTES and key not in ("location", "properties"):
            profile[key] = value
        else:
            properties[key] = value
    if properties:
        profile["properties"] = properties
    return profile


def _profile_resource(record: Mapping[str, Any]) -> dict[str, Any]:
    """``{"email": ..., "id": ...}`` as a JSON:API profile resource object."""
    resource: dict[str, Any] = {
        "type": "profile",
        "attributes": {k: v for k, v in record.items() if k not in ("id", "meta")},
    }
    if record.get("id"):
        resource["id"] = record["id"]
    if record.get("meta"):
        resource["meta"] = record["meta"]
    return resource


def _event_hash(event: Mapping[str, Any]) -> str:
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _job(body: Any) -> _Job:
    return _Job(id=str(dig(body, "data.id")), status=str(dig(body, "data.attributes.status")))


def _size_chunks(records: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Indices split so that no bulk job's body passes 5 MB."""
    chunks: list[list[int]] = [[]]
    size = 200  # the envelope around the profiles
    for index, record in enumerate(records):
        record_size = len(json.dumps(_profile_resource(record), default=str)) + 1
        if chunks[-1] and size + record_size > BULK_MAX_BYTES:
            chunks.append([])
            size = 200
        chunks[-1].append(index)
        size += record_size
    return [chunk for chunk in chunks if chunk]


def _burst_calls(overrides: Any, endpoint: str) -> int:
    documented = ENDPOINT_LIMITS[endpoint][0].calls
    if not overrides:
        return documented
    if not isinstance(overrides, Mapping) or not set(overrides) <= set(ENDPOINT_LIMITS):
        raise ConfigurationError(
            f"klaviyo burst_limits: a mapping of {', '.join(ENDPOINT_LIMITS)} to calls per second",
            code="invalid_settings",
        )
    calls = overrides.get(endpoint, documented)
    if not isinstance(calls, int) or calls < 1:
        raise ConfigurationError(
            "klaviyo burst_limits values are positive integers", code="invalid_settings"
        )
    return calls
