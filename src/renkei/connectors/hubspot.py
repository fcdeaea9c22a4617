"""HubSpot CRM v3: contacts and custom events (developers.hubspot.com).

Contract followed (``contacts-v3.json``, ``send-event-completions-v3.json`` and HubSpot's
usage guidelines):

- A private app's access token as ``Authorization: Bearer pat-...``. A 401 means the token
  was rotated or the app uninstalled: a human must act.
- ``POST /crm/v3/objects/contacts/batch/upsert`` with ``idProperty: email``, at most 100
  inputs, each email at most once. 200 or 207 with ``results`` (``new`` tells created from
  updated) and ``errors`` whose ``context.ids`` name the failed inputs. One invalid input
  makes the whole batch a 400 ``VALIDATION_ERROR``: the batch is then split until the
  culprits stand alone, so every other record still goes through.
- ``POST /events/v3/send/batch`` (custom event completions, up to 500), exempt from the
  rate limits. Each occurrence carries a ``uuid`` (filled in at submission), which HubSpot
  keeps once, so a batch sent twice is counted once.
- Incremental reads: ``POST /crm/v3/objects/contacts/search`` filtered on
  ``lastmodifieddate`` GTE the cursor and sorted by it, moving the cursor forward page by
  page (keyset paging), so no read ever needs an offset past the 10,000-result cap and a
  contact changed during a read is read again rather than skipped.
- Limits: 100 calls per rolling 10 seconds and 250,000 a day (Free and Starter; 190 and
  625,000 or 1,000,000 on Professional and Enterprise: set the connection's limits); the
  search endpoints allow 5 calls a second, outside the 10-second window. A 429 carries
  ``policyName`` (``TEN_SECONDLY_ROLLING``, ``SECONDLY``, ``DAILY``) and Retry-After.

What syncs read and write through this connector: ``hubspot_syncs.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, time
from typing import Any

import httpx

from renkei.clock import Clock
from renkei.connectors.auth import Auth, BearerAuth
from renkei.connectors.deletion import PersonDeletion, PersonIds
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    QuotaExhaustedError,
    RateLimitedError,
    ReauthenticateError,
    RecordError,
)
from renkei.connectors.hubspot_syncs import HUBSPOT_SYNC_OBJECTS
from renkei.connectors.oauth import (
    OAUTH_CLIENT_FIELDS,
    OAUTH_CONFIG_FIELDS,
    OAuthProvider,
    oauth_refresh_auth,
)
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
from renkei.egress.retry_after import parse_retry_after

__all__ = ["MAX_EVENTS", "MAX_UPSERT", "HubSpotConnector"]

MAX_UPSERT = 100
MAX_EVENTS = 500
SEARCH_PAGE = 100
_EMAIL = "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"
_VALUE: dict[str, Any] = {"type": ["string", "number", "integer", "boolean", "null"]}
# Problems that depend on a property's name, not its value: every input carrying it fails.
_NAMED_PROBLEMS = frozenset({"PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE"})
DEFAULT_PROPERTIES = ("email", "firstname", "lastname", "createdate", "lastmodifieddate")

CONTACT: dict[str, Any] = {
    "type": "object",
    "description": "Contact properties by internal name; email identifies the contact",
    "required": ["email"],
    "properties": {"email": {"type": "string", "pattern": _EMAIL}},
    "propertyNames": {"pattern": "^[A-Za-z0-9_]+$"},
    "additionalProperties": _VALUE,
}
EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["eventName"],
    "anyOf": [{"required": ["email"]}, {"required": ["utk"]}, {"required": ["objectId"]}],
    "properties": {
        "eventName": {"type": "string", "minLength": 1},
        "email": {"type": "string", "pattern": _EMAIL},
        "utk": {"type": "string", "minLength": 1},
        "objectId": {"type": ["string", "integer"]},
        "occurredAt": {"type": "string", "description": "ISO 8601; default: when received"},
        "uuid": {"type": "string", "minLength": 1},
        "properties": {"type": "object", "additionalProperties": _VALUE},
    },
    "additionalProperties": False,
}
GDPR_DELETE: dict[str, Any] = {
    "type": "object",
    "required": ["emails"],
    "properties": {
        "emails": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 100}
    },
    "additionalProperties": False,
}
READ_CONTACTS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "since": {
            "type": ["string", "integer"],
            "description": "ISO 8601 date-time or unix milliseconds; default: the beginning",
        },
        "cursor": {
            "type": "object",
            "description": "the cursor a previous read returned",
            "required": ["since"],
            "properties": {
                "since": {"type": "integer"},
                "seen": {"type": "array", "items": {"type": "string"}},
                "offset": {"type": "integer", "minimum": 0},
            },
        },
        "properties": {"type": "array", "items": {"type": "string"}},
        "page_size": {"type": "integer", "minimum": 1, "maximum": 200},
        "max_pages": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
}


class _RejectedBatch(PermanentError):
    """A 400 VALIDATION_ERROR: something in the batch is invalid, HubSpot says not which."""

    def __init__(self, message: str, *, code: str, problems: Sequence[Any]) -> None:
        super().__init__(message, code=code, status_code=400)
        self.problems = [p for p in problems if isinstance(p, dict)]

    def named_properties(self) -> set[str] | None:
        """The offending property names, when every problem is about a name."""
        names: set[str] = set()
        for problem in self.problems:
            context = problem.get("context") or {}
            found = context.get("propertyName") if isinstance(context, dict) else None
            if problem.get("code") not in _NAMED_PROBLEMS or not isinstance(found, list):
                return None
            names.update(str(name).lower() for name in found)
        return names or None


def _deletion_input(person: PersonIds) -> dict[str, Any] | None:
    return {"emails": list(person.emails[:100])} if person.emails else None


class HubSpotConnector(Connector):
    sync_objects = HUBSPOT_SYNC_OBJECTS
    # developers.hubspot.com/docs/api/oauth-quickstart-guide: refresh tokens, access tokens
    # for 30 minutes, client credentials in the token request's form body; no PKCE.
    oauth = OAuthProvider(
        authorize_endpoint="https://app.hubspot.com/oauth/authorize",
        exchange_endpoint="https://api.hubapi.com/oauth/v1/token",
        scopes=(
            "oauth",
            "crm.objects.contacts.read",
            "crm.objects.contacts.write",
            "analytics.behavioral_events.send",
        ),
        pkce=False,
    )
    person_deletion = PersonDeletion("gdpr_delete_contacts", _deletion_input)
    spec = ConnectorSpec(
        name="hubspot",
        title="HubSpot CRM",
        docs_url="https://developers.hubspot.com/docs/api/crm/contacts",
        credentials=(
            Field(
                "access_token",
                "Private app access token (pat-...) with crm.objects.contacts.read/write "
                "and analytics.behavioral_events.send; or leave it out and Connect (OAuth)",
                secret=True,
                required=False,
            ),
            *OAUTH_CLIENT_FIELDS,
        ),
        config=(
            Field(
                "base_url",
                "API root",
                required=False,
                default="https://api.hubapi.com",
            ),
            *OAUTH_CONFIG_FIELDS,
        ),
        operations=(
            Operation(
                "upsert_contacts",
                "Create or update contacts by email; per-record created, updated or the "
                "reason HubSpot refused it",
                CONTACT,
                batchable=True,
                max_batch_size=MAX_UPSERT,
            ),
            Operation(
                "send_events",
                "Send custom event occurrences (eventName as pe<portal>_<name>)",
                EVENT,
                batchable=True,
                max_batch_size=MAX_EVENTS,
                id_field="uuid",
            ),
            Operation(
                "gdpr_delete_contacts",
                "Permanently delete contacts by email (POST /crm/v3/objects/contacts/"
                "gdpr-delete); a contact HubSpot does not hold counts as done",
                GDPR_DELETE,
            ),
            Operation(
                "read_contacts",
                "Contacts modified since a time or a cursor, oldest change first",
                READ_CONTACTS,
                kind="read",
            ),
        ),
        rate_limit=RateLimitSpec(calls=100, per_seconds=10.0),
        rate_limit_pools={"search": RateLimitSpec(calls=5, per_seconds=1.0)},
        daily_quota=QuotaSpec(calls=250_000, reset=time(0, 0), timezone="UTC"),
    )

    def base_url(self, config: Mapping[str, Any]) -> str:
        return str(config["base_url"]).rstrip("/")

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        assert self.oauth is not None
        refreshing = oauth_refresh_auth(self.oauth, connection, clock)
        if refreshing is not None:
            return refreshing
        if not connection.credentials.get("access_token"):
            raise ConfigurationError(
                "hubspot: give access_token (a private app's) or Connect with OAuth",
                code="not_connected",
            )
        return BearerAuth(connection.credentials["access_token"])

    def classify(self, response: httpx.Response, now: datetime) -> ConnectorError | None:
        status = response.status_code
        if status < 400:
            return None
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        category = str(body.get("category") or status)
        text = f"HubSpot {status} {category}: {str(body.get('message') or '')[:300]}"
        if status == 429:
            policy = str(body.get("policyName") or "429")
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
            if policy == "DAILY":
                assert self.spec.daily_quota is not None
                resets_at = self.spec.daily_quota.next_reset(now)
                return QuotaExhaustedError(text, resets_at=resets_at, code=policy)
            return RateLimitedError(
                text, retry_after=retry_after or 1.0, code=policy, status_code=status
            )
        if status == 401:
            return ReauthenticateError(text, code=category, status_code=status)
        if status == 403:
            return ConfigurationError(text, code=category, status_code=status)
        if status == 400 and category == "VALIDATION_ERROR":
            raw = body.get("errors")
            problems: list[Any] = raw if isinstance(raw, list) else []
            first = problems[0] if problems and isinstance(problems[0], dict) else {}
            code = str(first.get("code") or category)
            return _RejectedBatch(text, code=code, problems=problems)
        return None

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        response = await ctx.http.request(
            "GET", "/crm/v3/objects/contacts", operation="test", params={"limit": 1}
        )
        return {"contacts_readable": True, "sample": len(response.json().get("results") or [])}

    # --- writes ----------------------------------------------------------------------------

    async def upsert_contacts(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        # An email may appear once per batch: later records for it are merged into the first
        # (their properties win), and every one of them gets the merged outcome.
        owners: dict[str, list[int]] = {}
        merged: dict[str, dict[str, str]] = {}
        for index, record in enumerate(records):
            email = str(record["email"]).strip().lower()
            owners.setdefault(email, []).append(index)
            properties = merged.setdefault(email, {})
            properties.update({str(k).lower(): _text(v) for k, v in record.items() if k != "email"})
            properties["email"] = email
        emails = list(owners)

        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            inputs = [
                {"idProperty": "email", "id": emails[i], "properties": merged[emails[i]]}
                for i in chunk
            ]
            response = await ctx.http.request(
                "POST",
                "/crm/v3/objects/contacts/batch/upsert",
                operation="upsert_contacts",
                json={"inputs": inputs},
            )
            return _upsert_results(response.json(), {emails[i]: i for i in chunk})

        def culprits(exc: _RejectedBatch, chunk: Sequence[int]) -> list[int]:
            names = exc.named_properties()
            if not names:
                return []
            return [i for i in chunk if names & set(merged[emails[i]])]

        outcomes = await _isolate(list(range(len(emails))), send, culprits)
        results: list[RecordResult] = []
        for position, email in enumerate(emails):
            outcome = outcomes[position]
            results += [dataclasses.replace(outcome, index=i) for i in owners[email]]
        return OperationResult(records=tuple(sorted(results, key=lambda r: r.index)))

    async def send_events(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        inputs = [_event(record) for record in records]

        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            await ctx.http.request(
                "POST",
                "/events/v3/send/batch",
                operation="send_events",
                json={"inputs": [inputs[i] for i in chunk]},
                limited=False,  # exempt from HubSpot's daily and ten-secondly limits
            )
            return {i: RecordOk(i, id=inputs[i].get("uuid"), status="sent") for i in chunk}

        outcomes = await _isolate(list(range(len(inputs))), send, lambda exc, chunk: [])
        return OperationResult(records=tuple(outcomes[i] for i in range(len(inputs))))

    async def gdpr_delete_contacts(
        self, input: Mapping[str, Any], ctx: CallContext
    ) -> OperationResult:
        deleted: list[str] = []
        for email in dict.fromkeys(str(e).strip().lower() for e in input["emails"]):
            try:
                await ctx.http.request(
                    "POST",
                    "/crm/v3/objects/contacts/gdpr-delete",
                    operation="gdpr_delete_contacts",
                    json={"objectId": email, "idProperty": "email"},
                )
            except PermanentError as exc:
                if exc.status_code != 404:
                    raise
                continue  # HubSpot holds no such contact: nothing to delete
            deleted.append(email)
        return OperationResult(data={"deleted": len(deleted)})

    # --- reads -----------------------------------------------------------------------------

    async def read_contacts(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        cursor = input.get("cursor") or {"since": _millis(input.get("since", 0))}
        since = int(cursor["since"])
        seen = {str(i) for i in cursor.get("seen") or []}
        offset = int(cursor.get("offset") or 0)
        wanted = {str(p).lower() for p in input.get("properties") or DEFAULT_PROPERTIES}
        properties = sorted(wanted | {"email", "lastmodifieddate"})
        size = int(input.get("page_size") or SEARCH_PAGE)
        max_pages = input.get("max_pages")
        found: list[dict[str, Any]] = []
        pages = 0
        more = True
        stopped: ConnectorError | None = None
        while max_pages is None or pages < int(max_pages):
            body = {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "lastmodifieddate",
                                "operator": "GTE",
                                "value": str(since),
                            }
                        ]
                    }
                ],
                "sorts": ["lastmodifieddate"],
                "properties": properties,
                "limit": size,
                "after": str(offset),
            }
            try:
                response = await ctx.http.request(
                    "POST",
                    "/crm/v3/objects/contacts/search",
                    operation="read_contacts",
                    json=body,
                    pool="search",
                )
            except (RateLimitedError, QuotaExhaustedError) as exc:
                if pages == 0:
                    raise
                stopped = exc
                break
            pages += 1
            page = response.json()
            results = [r for r in page.get("results") or [] if isinstance(r, dict)]
            for result in results:
                if _modified(result) == since and str(result.get("id")) in seen:
                    continue
                found.append(result)
            if results:
                last = _modified(results[-1])
                at_last = {str(r.get("id")) for r in results if _modified(r) == last}
                if last == since:
                    seen |= at_last
                    offset += len(results)
                else:
                    since, seen, offset = last, at_last, 0
            if not (page.get("paging") or {}).get("next"):
                more = False
                offset = 0
                break
        data: dict[str, Any] = {
            "records": found,
            "cursor": {"since": since, "seen": sorted(seen), "offset": offset},
            "more": more,
            "pages": pages,
        }
        if stopped is not None:
            data["stopped_by"] = {"code": stopped.code, "message": stopped.message}
        return OperationResult(data=data)


Send = Callable[[Sequence[int]], Awaitable[dict[int, RecordResult]]]
Culprits = Callable[[_RejectedBatch, Sequence[int]], list[int]]


async def _isolate(chunk: list[int], send: Send, culprits: Culprits) -> dict[int, RecordResult]:
    """Send ``chunk``; when HubSpot rejects it whole, fail the inputs its answer names, or
    split it in two and try each half, until every rejected input stands alone."""
    if not chunk:
        return {}
    try:
        return await send(chunk)
    except _RejectedBatch as exc:
        code = exc.code or "VALIDATION_ERROR"
        if len(chunk) == 1:
            return {chunk[0]: RecordError(chunk[0], code, exc.message)}
        named = culprits(exc, chunk)
        if named and len(named) < len(chunk):
            failed: dict[int, RecordResult] = {i: RecordError(i, code, exc.message) for i in named}
            rest = [i for i in chunk if i not in failed]
            return failed | await _isolate(rest, send, culprits)
        middle = len(chunk) // 2
        first = await _isolate(chunk[:middle], send, culprits)
        return first | await _isolate(chunk[middle:], send, culprits)


def _upsert_results(body: Any, positions: Mapping[str, int]) -> dict[int, RecordResult]:
    out: dict[int, RecordResult] = {}
    body = body if isinstance(body, dict) else {}
    for item in body.get("results") or []:
        email = str(((item or {}).get("properties") or {}).get("email") or "").lower()
        if email in positions:
            index = positions[email]
            status = "created" if item.get("new") else "updated"
            out[index] = RecordOk(index, id=str(item.get("id")), status=status)
    for error in body.get("errors") or []:
        context = (error or {}).get("context") or {}
        for key in context.get("ids") or []:
            failed = positions.get(str(key).lower())
            if failed is not None:
                code = str(error.get("category") or "error")
                out[failed] = RecordError(failed, code, str(error.get("message") or code))
    for email, index in positions.items():
        out.setdefault(index, RecordError(index, "missing_result", f"no result for {email}"))
    return out


def _event(record: Mapping[str, Any]) -> dict[str, Any]:
    event = {k: v for k, v in record.items() if k != "properties"}
    if "objectId" in event:
        event["objectId"] = str(event["objectId"])
    event["properties"] = {str(k): _text(v) for k, v in (record.get("properties") or {}).items()}
    return event


def _text(value: Any) -> str:
    """HubSpot takes every property value as a string; None clears the property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _millis(value: Any) -> int:
    if isinstance(value, bool):
        raise PermanentError("since must be a date-time or unix milliseconds", code="invalid_input")
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PermanentError(f"since {text!r} is not a date-time", code="invalid_input") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _modified(result: Mapping[str, Any]) -> int:
    value = (result.get("properties") or {}).get("lastmodifieddate") or result.get("updatedAt")
    return _millis(value) if value else 0
