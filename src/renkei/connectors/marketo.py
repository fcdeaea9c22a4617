"""Adobe Marketo Engage REST API (developer.adobe.com/marketo-apis).

Contract followed (``swagger-mapi.json``, ``swagger-identity.json`` and Adobe's pages on
authentication, limits, error codes and paging tokens):

- Access token from ``GET /identity/oauth/token`` with ``grant_type=client_credentials``,
  ``client_id`` and ``client_secret`` in the query string; reused until it expires, sent as
  ``Authorization: Bearer``. Errors 601 (invalid) and 602 (expired) fetch a new token and
  retry the call once.
- Errors arrive as HTTP 200 with ``success: false`` and ``errors: [{code, message}]``; a
  failed call executed nothing. 604, 606, 608, 611, 615 and 713 are retried with backoff
  (606 and 615 are rate limits); 607 (daily quota) parks the work until midnight
  America/Chicago; every other 6xx, 7xx and 1xxx is permanent.
- Limits: 100 calls per 20 seconds, 10 concurrent calls, 50,000 calls a day; identity
  calls are not counted. Writes take at most 300 records.
- ``POST /rest/v1/leads.json`` (``createOrUpdate`` on ``lookupField``) answers one result per
  record, in order: ``created`` or ``updated`` with the lead id, or ``skipped`` with
  ``reasons``. ``POST /rest/v1/activities/external.json`` answers ``added`` or ``skipped``.
- Lead activities and lead changes are read from a position: a paging token from
  ``GET /rest/v1/activities/pagingtoken.json?sinceDatetime=...``, then pages of
  ``activities.json`` or ``activities/leadchanges.json`` following ``nextPageToken`` until
  ``moreResult`` is false. The last page's token is where the next read starts.
- ``GET /rest/v1/leads.json?filterType=id&filterValues=...`` reads up to 300 leads by id.
- A Munchkin cookie (``_mkto_trk``) links a browser to a lead: ``filterType=cookies`` finds
  the lead that holds it, ``POST /rest/v1/leads/{id}/associate.json?cookie=`` gives it to a
  known lead (``link_cookies``; see ``munchkin.py``, also for ``marketo_hash``).

What syncs read and write through this connector: ``marketo_syncs.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, time
from typing import Any

import httpx

from renkei.clock import Clock
from renkei.connectors.auth import Auth, ClientCredentialsAuth
from renkei.connectors.deletion import PersonDeletion, PersonIds
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    QuotaExhaustedError,
    RateLimitedError,
    ReauthenticateError,
    RecordError,
    RetryableError,
)
from renkei.connectors.marketo_syncs import MARKETO_SYNC_OBJECTS
from renkei.connectors.munchkin import PRIVATE_KEY, is_munchkin_cookie
from renkei.connectors.pagination import PageTokenPaginator, paginate
from renkei.connectors.spec import (
    CallContext,
    Connection,
    Connector,
    ConnectorSpec,
    Field,
    Operation,
    OperationResult,
    QuotaSpec,
    RateLimitSpec,
    RecordOk,
    RecordResult,
)

__all__ = ["MAX_BATCH", "MarketoConnector"]

MAX_BATCH = 300
# Response-level error codes (Adobe's "Error Codes" page).
REAUTHENTICATE = frozenset({"600", "601", "602"})
RATE_LIMITED = {"606": 20.0, "615": 2.0}  # the window is 20 s; a concurrent slot frees fast
RETRYABLE = frozenset({"604", "608", "611", "713"})
QUOTA = "607"
ACCESS_DENIED = "603"
# Record-level reasons that may succeed when sent again.
RETRYABLE_REASONS = frozenset({"604", "608", "611", "713"})

_SCALAR: dict[str, Any] = {"type": ["string", "number", "integer", "boolean", "null"]}
LEAD: dict[str, Any] = {
    "type": "object",
    "description": "Lead fields by REST API name; the lookup field (email) must be present",
    "minProperties": 1,
    "propertyNames": {"pattern": "^[A-Za-z][A-Za-z0-9_]*$"},
    "additionalProperties": _SCALAR,
}
ACTIVITY: dict[str, Any] = {
    "type": "object",
    "required": ["leadId", "primaryAttributeValue"],
    "properties": {
        "leadId": {"type": "integer", "minimum": 1},
        "activityDate": {"type": "string", "description": "ISO 8601; default: now"},
        "activityTypeId": {
            "type": "integer",
            "description": "the custom activity type; default: the connection's",
        },
        "apiName": {"type": "string"},
        "primaryAttributeValue": {"type": "string"},
        "attributes": {
            "type": "array",
            "description": "secondary attributes: name (as the swagger requires), value",
            "items": {
                "type": "object",
                "required": ["name", "value"],
                "properties": {"name": {"type": "string"}, "apiName": {"type": "string"}},
            },
        },
    },
}
_SINCE = {
    "anyOf": [{"required": ["since"]}, {"required": ["next_page_token"]}],
}
_READ_COMMON: dict[str, Any] = {
    "since": {"type": "string", "description": "ISO 8601 date-time to read from"},
    "next_page_token": {"type": "string", "description": "where the last read stopped"},
    "lead_ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 30},
    "batch_size": {"type": "integer", "minimum": 1, "maximum": MAX_BATCH},
    "max_pages": {"type": "integer", "minimum": 1},
}
READ_ACTIVITIES: dict[str, Any] = {
    "type": "object",
    "required": ["activity_type_ids"],
    "properties": {
        **_READ_COMMON,
        "activity_type_ids": {
            "type": "array",
            "items": {"type": "integer"},
            "minItems": 1,
            "maxItems": 10,
        },
    },
    "additionalProperties": False,
    **_SINCE,
}
READ_LEADS: dict[str, Any] = {
    "type": "object",
    "required": ["ids"],
    "properties": {
        "ids": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 300},
        "fields": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}
DELETE_LEADS: dict[str, Any] = {
    "type": "object",
    "description": "Leads to delete, by id and by email (looked up first); at least one",
    "properties": {
        "ids": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 300},
        "emails": {"type": "array", "items": {"type": "string"}, "maxItems": 300},
    },
    "anyOf": [
        {"required": ["ids"], "properties": {"ids": {"minItems": 1}}},
        {"required": ["emails"], "properties": {"emails": {"minItems": 1}}},
    ],
    "additionalProperties": False,
}
LINK_COOKIE: dict[str, Any] = {
    "type": "object",
    "description": "A Munchkin cookie and lead fields to write to its lead; with an email, "
    "a lead that has no such cookie yet is created or updated on email and given it",
    "required": ["cookie"],
    "properties": {"cookie": {"type": "string", "minLength": 1, "maxLength": 255}},
    "propertyNames": {"pattern": "^[A-Za-z][A-Za-z0-9_]*$"},
    "additionalProperties": _SCALAR,
}
READ_LEAD_CHANGES: dict[str, Any] = {
    "type": "object",
    "required": ["fields"],
    "properties": {
        **_READ_COMMON,
        "fields": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "additionalProperties": False,
    **_SINCE,
}


def _deletion_input(person: PersonIds) -> dict[str, Any] | None:
    ids = [int(i) for i in person.vendor("marketo_lead_id") if i.isdigit()]
    if not ids and not person.emails:
        return None
    return {
        **({"ids": ids[:MAX_BATCH]} if ids else {}),
        **({"emails": list(person.emails[:MAX_BATCH])} if person.emails else {}),
    }


class MarketoConnector(Connector):
    sync_objects = MARKETO_SYNC_OBJECTS
    person_deletion = PersonDeletion("delete_leads", _deletion_input)
    spec = ConnectorSpec(
        name="marketo",
        title="Adobe Marketo Engage",
        docs_url="https://developer.adobe.com/marketo-apis/api/mapi/",
        credentials=(
            Field("client_id", "Client ID of the LaunchPoint custom service"),
            Field("client_secret", "Client Secret of the LaunchPoint custom service", secret=True),
            Field(
                PRIVATE_KEY,
                "Munchkin API private key (Admin > Munchkin): pushes then set the profile "
                "trait marketo_hash = sha1(key + email) for Munchkin's associateLead",
                secret=True,
                required=False,
            ),
        ),
        config=(
            Field(
                "base_url",
                "The instance's REST endpoint without /rest, e.g. https://123-ABC-456.mktorest.com",
            ),
            Field(
                "identity_url",
                "The Identity endpoint; default: base_url + /identity",
                required=False,
            ),
            Field(
                "lookup_field",
                "Field that identifies a lead in upserts",
                required=False,
                default="email",
            ),
            Field("partition_name", "Lead partition to write to", required=False),
            Field(
                "activity_type_id",
                "Custom activity type used when an add_activities record names none",
                required=False,
            ),
        ),
        operations=(
            Operation(
                "upsert_leads",
                "Create or update leads (createOrUpdate on the lookup field); per-record "
                "created, updated or skipped with Marketo's reason",
                LEAD,
                batchable=True,
                max_batch_size=MAX_BATCH,
            ),
            Operation(
                "link_cookies",
                "Find the lead of each Munchkin cookie (filterType=cookies) and write the "
                "fields to it; unknown cookie with an email: upsert the lead, associate it",
                LINK_COOKIE,
                batchable=True,
                max_batch_size=MAX_BATCH,
            ),
            Operation(
                "add_activities",
                "Add custom activities to leads",
                ACTIVITY,
                batchable=True,
                max_batch_size=MAX_BATCH,
            ),
            Operation(
                "read_activities",
                "Lead activities of the given types since a date or a paging token",
                READ_ACTIVITIES,
                kind="read",
            ),
            Operation(
                "read_lead_changes",
                "Changes to the given lead fields (and new leads) since a date or a token",
                READ_LEAD_CHANGES,
                kind="read",
            ),
            Operation(
                "delete_leads",
                "Delete leads (Delete Leads, POST /rest/v1/leads/delete.json) by id or by "
                "email; answers how many were deleted",
                DELETE_LEADS,
            ),
            Operation(
                "read_leads",
                "The current values of up to 300 leads by id (the given fields)",
                READ_LEADS,
                kind="read",
            ),
        ),
        rate_limit=RateLimitSpec(calls=100, per_seconds=20.0, concurrency=10),
        daily_quota=QuotaSpec(calls=50_000, reset=time(0, 0), timezone="America/Chicago"),
    )

    def base_url(self, config: Mapping[str, Any]) -> str:
        return _root(config)

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        config = self.spec.check_settings(connection.credentials, connection.config)
        identity = str(config.get("identity_url") or f"{_root(config)}/identity").rstrip("/")
        return ClientCredentialsAuth(
            f"{identity}/oauth/token",
            connection.credentials["client_id"],
            connection.credentials["client_secret"],
            style="query",
            clock=clock,
        )

    def classify(self, response: httpx.Response, now: datetime) -> ConnectorError | None:
        if response.status_code != 200:
            return None
        body = response.json()
        if not isinstance(body, dict) or body.get("success") is not False:
            return None
        errors = body.get("errors") or [{}]
        first = errors[0] if isinstance(errors[0], dict) else {}
        code = str(first.get("code", "unknown"))
        text = f"Marketo error {code}: {str(first.get('message', ''))[:200]}"
        if code in REAUTHENTICATE:
            return ReauthenticateError(text, code=code)
        if code in RATE_LIMITED:
            return RateLimitedError(text, retry_after=RATE_LIMITED[code], code=code)
        if code in RETRYABLE:
            return RetryableError(text, code=code)
        if code == QUOTA:
            assert self.spec.daily_quota is not None
            return QuotaExhaustedError(
                text, resets_at=self.spec.daily_quota.next_reset(now), code=code
            )
        if code == ACCESS_DENIED:
            return ConfigurationError(text, code=code)
        return PermanentError(text, code=code)

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        response = await ctx.http.request("GET", "/rest/v1/leads/describe.json", operation="test")
        return {"lead_fields": len(response.json().get("result") or [])}

    # --- writes ----------------------------------------------------------------------------

    async def upsert_leads(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        body: dict[str, Any] = {
            "action": "createOrUpdate",
            "lookupField": ctx.config["lookup_field"],
            "input": list(records),
        }
        if ctx.config.get("partition_name"):
            body["partitionName"] = ctx.config["partition_name"]
        response = await ctx.http.request(
            "POST", "/rest/v1/leads.json", operation="upsert_leads", json=body
        )
        results = response.json().get("result") or []
        return OperationResult(
            records=tuple(_record_result(i, item) for i, item in enumerate(results))
        )

    async def link_cookies(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        """Per record: the lead holding ``cookie`` takes the other fields (updateOnly on id);
        when none does, a record with an email is upserted on email and its lead associated
        with the cookie, as Marketo documents for a known lead; else the record fails with
        ``cookie_unknown`` (Munchkin creates the anonymous lead on its first tracked visit)."""
        results: list[RecordResult] = []
        for index, record in enumerate(records):
            cookie = str(record.get("cookie") or "")
            if not is_munchkin_cookie(cookie):
                results.append(RecordError(index, "1012", "not a Munchkin _mkto_trk cookie"))
                continue
            fields = {k: v for k, v in record.items() if k != "cookie"}
            response = await ctx.http.request(
                "GET",
                "/rest/v1/leads.json",
                operation="link_cookies",
                params={"filterType": "cookies", "filterValues": cookie, "fields": "id"},
            )
            found = response.json().get("result") or []
            if found:
                results.append(await self._update_lead(index, int(found[0]["id"]), fields, ctx))
            elif fields.get("email"):
                upserted = (await self.upsert_leads([fields], ctx)).records[0]
                if isinstance(upserted, RecordOk) and upserted.id is not None:
                    await ctx.http.request(
                        "POST",
                        f"/rest/v1/leads/{int(upserted.id)}/associate.json",
                        operation="link_cookies",
                        params={"cookie": cookie},
                        idempotent=True,
                    )
                    upserted = RecordOk(index, id=upserted.id, status=upserted.status)
                results.append(upserted)
            else:
                results.append(
                    RecordError(index, "cookie_unknown", "no Marketo lead holds this cookie yet")
                )
        return OperationResult(records=tuple(results))

    async def _update_lead(
        self, index: int, lead_id: int, fields: Mapping[str, Any], ctx: CallContext
    ) -> RecordResult:
        writable = {k: v for k, v in fields.items() if k.lower() != "id" and v is not None}
        if not writable:
            return RecordOk(index, id=str(lead_id), status="updated")
        response = await ctx.http.request(
            "POST",
            "/rest/v1/leads.json",
            operation="link_cookies",
            json={
                "action": "updateOnly",
                "lookupField": "id",
                "input": [{"id": lead_id, **writable}],
            },
        )
        results = response.json().get("result") or []
        return _record_result(index, results[0] if results else None)

    async def add_activities(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        default_type = ctx.config.get("activity_type_id")
        now = ctx.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        problems: dict[int, RecordResult] = {}
        inputs: list[dict[str, Any]] = []
        positions: list[int] = []
        for index, record in enumerate(records):
            activity = {"activityDate": now, "attributes": [], **record}
            if "activityTypeId" not in activity:
                if default_type in (None, ""):
                    problems[index] = RecordError(
                        index,
                        "invalid_input",
                        "activityTypeId is missing and the connection sets no activity_type_id",
                    )
                    continue
                activity["activityTypeId"] = int(default_type)
            inputs.append(activity)
            positions.append(index)
        results: list[RecordResult] = list(problems.values())
        if inputs:
            response = await ctx.http.request(
                "POST",
                "/rest/v1/activities/external.json",
                operation="add_activities",
                json={"input": inputs},
                idempotent=False,
            )
            answers = response.json().get("result") or []
            for n, item in enumerate(answers[: len(positions)]):
                results.append(_record_result(positions[n], item))
        return OperationResult(records=tuple(sorted(results, key=lambda r: r.index)))

    # --- reads -----------------------------------------------------------------------------

    async def read_activities(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        params: dict[str, Any] = {"activityTypeIds": list(input["activity_type_ids"])}
        return await self._read("/rest/v1/activities.json", "read_activities", input, params, ctx)

    async def read_lead_changes(
        self, input: Mapping[str, Any], ctx: CallContext
    ) -> OperationResult:
        params: dict[str, Any] = {"fields": list(input["fields"])}
        return await self._read(
            "/rest/v1/activities/leadchanges.json", "read_lead_changes", input, params, ctx
        )

    async def read_leads(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        params = {"filterType": "id", "filterValues": ",".join(str(i) for i in input["ids"])}
        if input.get("fields"):
            params["fields"] = ",".join(str(f) for f in input["fields"])
        response = await ctx.http.request(
            "GET", "/rest/v1/leads.json", operation="read_leads", params=params
        )
        return OperationResult(data={"records": response.json().get("result") or []})

    async def delete_leads(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        ids = {int(i) for i in input.get("ids") or []}
        if emails := input.get("emails"):
            response = await ctx.http.request(
                "GET",
                "/rest/v1/leads.json",
                operation="delete_leads",
                params={"filterType": "email", "filterValues": ",".join(emails), "fields": "id"},
            )
            ids.update(int(lead["id"]) for lead in response.json().get("result") or [])
        if not ids:
            return OperationResult(data={"deleted": 0, "ids": []})
        response = await ctx.http.request(
            "POST",
            "/rest/v1/leads/delete.json",
            operation="delete_leads",
            json={"input": [{"id": lead_id} for lead_id in sorted(ids)]},
        )
        results = response.json().get("result") or []
        deleted = [int(r["id"]) for r in results if r.get("status") == "deleted"]
        return OperationResult(data={"deleted": len(deleted), "ids": deleted})

    async def _read(
        self,
        path: str,
        operation: str,
        input: Mapping[str, Any],
        params: dict[str, Any],
        ctx: CallContext,
    ) -> OperationResult:
        """Pages from a position until ``moreResult`` is false, ``max_pages`` is reached,
        or a limit stops us after the first page: the answer then says ``more`` and carries
        the token to go on from."""
        token = input.get("next_page_token") or await self._paging_token(ctx, input["since"])
        if input.get("lead_ids"):
            params["leadIds"] = list(input["lead_ids"])
        if input.get("batch_size"):
            params["batchSize"] = int(input["batch_size"])
        params["nextPageToken"] = token

        async def send(page: dict[str, Any]) -> httpx.Response:
            return await ctx.http.request("GET", path, operation=operation, params=page)

        paginator = PageTokenPaginator()
        found: list[Any] = []
        pages = 0
        stopped: ConnectorError | None = None
        try:
            async for body in paginate(send, paginator, params, max_pages=input.get("max_pages")):
                found.extend(body.get("result") or [])
                token = body.get("nextPageToken") or token
                pages += 1
        except (RateLimitedError, QuotaExhaustedError) as exc:
            if pages == 0:
                raise
            stopped = exc
        more = stopped is not None or paginator.has_more
        data: dict[str, Any] = {
            "records": found,
            "next_page_token": token,
            "more": more,
            "pages": pages,
        }
        if stopped is not None:
            data["stopped_by"] = {"code": stopped.code, "message": stopped.message}
        return OperationResult(data=data)

    async def _paging_token(self, ctx: CallContext, since: str) -> str:
        response = await ctx.http.request(
            "GET",
            "/rest/v1/activities/pagingtoken.json",
            operation="paging_token",
            params={"sinceDatetime": since},
        )
        token = response.json().get("nextPageToken")
        if not isinstance(token, str) or not token:
            raise PermanentError("Marketo answered no paging token", code="no_paging_token")
        return token


def _root(config: Mapping[str, Any]) -> str:
    root = str(config["base_url"]).rstrip("/")
    return root.removesuffix("/rest")


def _record_result(index: int, item: Any) -> RecordResult:
    if not isinstance(item, dict):
        return RecordError(index, "invalid_response", "Marketo answered no result for it")
    status = str(item.get("status", ""))
    if status in ("created", "updated", "added"):
        vendor_id = item.get("id", item.get("marketoGUID"))
        return RecordOk(index, id=None if vendor_id is None else str(vendor_id), status=status)
    reasons = item.get("reasons") or item.get("errors") or [{}]
    reason = reasons[0] if isinstance(reasons[0], dict) else {}
    code = str(reason.get("code", status or "skipped"))
    message = str(reason.get("message", "skipped by Marketo"))
    return RecordError(index, code, message, retryable=code in RETRYABLE_REASONS)
