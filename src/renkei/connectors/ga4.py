"""Google Analytics 4 Measurement Protocol: events for a web stream's client (and user).

Contract (developers.google.com/analytics/devguides/collection/protocol/ga4: sending-events,
reference, validating-events): ``POST /mp/collect?measurement_id=G-...&api_secret=...``
with ``{"client_id", "user_id"?, "timestamp_micros"?, "user_properties"?, "events": [...]}``;
at most 25 events per request, 25 parameters per event, 25 user properties, a post body
under 130 kB; event and parameter names of at most 40 characters, letters, digits and
underscores, starting with a letter; parameter values of at most 100 characters; user
property names of at most 24 characters and values of at most 36; reserved event names,
parameter and user property prefixes (``google_``, ``ga_``, ``firebase_``) are refused.

``/mp/collect`` answers 2xx even for a payload it drops, so nothing it says can be turned
into a per-record error: every rule above is checked here, before sending, and reported as
``invalid_input`` per event. ``/debug/mp/collect`` (the validation server) answers
``{"validationMessages": [{"fieldPath", "description", "validationCode"}]}`` without
recording anything: "Test connection" and ``validate_events`` use it, and with
``validate_first`` every request is checked there before it is sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from renkei.clock import Clock
from renkei.connectors._vendor import run_chunks
from renkei.connectors.auth import APIKeyAuth, Auth
from renkei.connectors.errors import PermanentError, RecordError
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

__all__ = ["EVENTS_PER_REQUEST", "MAX_BODY_BYTES", "GA4Connector", "plan_requests", "problem"]

EVENTS_PER_REQUEST = 25
MAX_BODY_BYTES = 130_000
_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,39}$"
RESERVED_EVENTS = frozenset(
    {
        "ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure",
        "app_clear_data", "app_exception", "app_install", "app_remove", "app_store_refund",
        "app_update", "app_upgrade", "dynamic_link_app_open", "dynamic_link_app_update",
        "dynamic_link_first_open", "error", "firebase_campaign",
        "firebase_in_app_message_action", "firebase_in_app_message_dismiss",
        "firebase_in_app_message_impression", "first_open", "first_visit", "in_app_purchase",
        "notification_dismiss", "notification_foreground", "notification_open",
        "notification_receive", "notification_send", "os_update", "screen_view",
        "session_start", "user_engagement",
    }
)  # fmt: skip
RESERVED_USER_PROPERTIES = frozenset(
    {"first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id",
     "first_open_after_install"}
)  # fmt: skip
RESERVED_PREFIXES = ("google_", "ga_", "firebase_")

_PARAM_VALUE: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "maxLength": 100},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "array", "items": {"type": "object", "maxProperties": 37}},  # items
    ]
}
EVENT_RECORD: dict[str, Any] = {
    "type": "object",
    "required": ["client_id", "name"],
    "additionalProperties": False,
    "properties": {
        "client_id": {"type": "string", "minLength": 1},
        "user_id": {"type": "string", "minLength": 1, "maxLength": 256},
        "name": {"type": "string", "pattern": _NAME},
        "params": {
            "type": "object",
            "maxProperties": 25,
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": _PARAM_VALUE,
        },
        "timestamp_micros": {"type": "integer", "minimum": 0},
        "user_properties": {
            "type": "object",
            "maxProperties": 25,
            "propertyNames": {"pattern": r"^[A-Za-z][A-Za-z0-9_]{0,23}$"},
            "additionalProperties": {
                "type": "object",
                "required": ["value"],
                "properties": {
                    "value": {"anyOf": [{"type": "string", "maxLength": 36}, {"type": "number"}]}
                },
            },
        },
    },
}
VALIDATE_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["client_id", "events"],
    "properties": {"client_id": {"type": "string"}, "events": {"type": "array"}},
}


def problem(record: Mapping[str, Any]) -> str | None:
    """What GA4 reserves that a schema cannot say (names, prefixes), or None."""
    name = str(record.get("name", ""))
    if name in RESERVED_EVENTS:
        return f"name: {name!r} is a reserved event name"
    for param in record.get("params") or {}:
        if str(param).startswith(RESERVED_PREFIXES):
            return f"params/{param}: the prefixes google_, ga_ and firebase_ are reserved"
    for prop in record.get("user_properties") or {}:
        if prop in RESERVED_USER_PROPERTIES or str(prop).startswith(RESERVED_PREFIXES):
            return f"user_properties/{prop}: a reserved user property name"
    return None


def _group(record: Mapping[str, Any]) -> str:
    """Events share a request only when everything outside ``events`` is the same."""
    keys = ("client_id", "user_id", "timestamp_micros", "user_properties")
    return json.dumps({k: record.get(k) for k in keys}, sort_keys=True, default=str)


def _event(record: Mapping[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {"name": record["name"]}
    if record.get("params"):
        event["params"] = record["params"]
    return event


def plan_requests(records: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Indices per request: same client (and user, time, user properties), at most 25
    events and a body under 130 kB; input order kept within each group."""
    groups: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        groups.setdefault(_group(record), []).append(index)
    chunks: list[list[int]] = []
    for indices in groups.values():
        current: list[int] = []
        size = len(_group(records[indices[0]])) + 64
        for index in indices:
            grows = len(json.dumps(_event(records[index]), default=str)) + 1
            if current and (len(current) >= EVENTS_PER_REQUEST or size + grows > MAX_BODY_BYTES):
                chunks.append(current)
                current, size = [], len(_group(records[index])) + 64
            current.append(index)
            size += grows
        chunks.append(current)
    return chunks


def _body(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    first = records[0]
    body: dict[str, Any] = {"client_id": first["client_id"]}
    for key in ("user_id", "timestamp_micros", "user_properties"):
        if first.get(key) is not None:
            body[key] = first[key]
    body["events"] = [_event(r) for r in records]
    return body


def _event_index(field_path: str) -> int | None:
    """``events[3].params.x`` → 3."""
    if not field_path.startswith("events["):
        return None
    number = field_path[len("events[") :].split("]", 1)[0]
    return int(number) if number.isdigit() else None


class GA4Connector(Connector):
    spec = ConnectorSpec(
        name="ga4",
        title="Google Analytics 4 (Measurement Protocol)",
        docs_url="https://developers.google.com/analytics/devguides/collection/protocol/ga4",
        credentials=(
            Field(
                "api_secret",
                "Measurement Protocol API secret (Admin → Data streams → the stream → "
                "Measurement Protocol API secrets)",
                secret=True,
            ),
        ),
        config=(
            Field("measurement_id", "The web stream's measurement ID, G-XXXXXXXXXX"),
            Field(
                "base_url",
                "https://www.google-analytics.com, or https://region1.google-analytics.com "
                "to keep collection in the EU",
                required=False,
                default="https://www.google-analytics.com",
            ),
            Field(
                "validate_first",
                "Check every request against /debug/mp/collect first and report the events "
                "it flags as per-record errors (one more call per request)",
                required=False,
                default=False,
            ),
        ),
        operations=(
            Operation(
                "send_events",
                "Send events (one record per event: client_id, name, params, optional "
                "user_id, timestamp_micros and user_properties); grouped per client into "
                "requests of at most 25 events",
                EVENT_RECORD,
                batchable=True,
                max_batch_size=500,
            ),
            Operation(
                "validate_events",
                "Ask the validation server about one Measurement Protocol payload; answers "
                "its validationMessages and records nothing",
                VALIDATE_INPUT,
                kind="read",
            ),
        ),
        # GA4 publishes no request rate for the Measurement Protocol: a bound of our own.
        rate_limit=RateLimitSpec(calls=100, per_seconds=1.0, concurrency=10),
    )
    limits_notes: ClassVar[tuple[str, ...]] = (
        "25 events per request, 25 parameters per event, 25 user properties, body < 130 kB",
        "names ≤ 40 characters (user properties ≤ 24), parameter values ≤ 100 characters",
        "/mp/collect answers 2xx even for dropped events: Renkei checks the rules before "
        "sending; validate_first also asks /debug/mp/collect",
        "no published request rate: Renkei sends at most 100 requests/s, 10 at a time",
    )

    def base_url(self, config: Mapping[str, Any]) -> str:
        return str(config.get("base_url") or "https://www.google-analytics.com").rstrip("/")

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        return APIKeyAuth(connection.credentials["api_secret"], name="api_secret", location="query")

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        """A sample event to the validation server: GA4 answers what it would drop."""
        sample = {"client_id": "renkei.connection-test", "events": [{"name": "renkei_test"}]}
        messages = await self._validate(sample, ctx, "test")
        if messages:
            raise PermanentError(
                f"the GA4 validation server refused a sample event: {_describe(messages)}",
                code="validation_failed",
            )
        return {"measurement_id": ctx.config["measurement_id"], "validation_messages": 0}

    async def _validate(
        self, body: Mapping[str, Any], ctx: CallContext, operation: str
    ) -> list[dict[str, Any]]:
        response = await ctx.http.request(
            "POST",
            "/debug/mp/collect",
            operation=operation,
            params={"measurement_id": ctx.config["measurement_id"]},
            json=body,
        )
        answer = response.json() if response.content else {}
        messages = answer.get("validationMessages") if isinstance(answer, dict) else None
        return [m for m in messages or [] if isinstance(m, dict)]

    # --- operations --------------------------------------------------------------------

    async def validate_events(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        messages = await self._validate(input, ctx, "validate_events")
        return OperationResult(data={"validationMessages": messages})

    async def send_events(
        self, records: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> OperationResult:
        results: dict[int, RecordResult] = {}
        valid: list[int] = []
        for index, record in enumerate(records):
            if reason := problem(record):
                results[index] = RecordError(index, "invalid_input", reason)
            else:
                valid.append(index)
        chunks = [[valid[i] for i in chunk] for chunk in plan_requests([records[i] for i in valid])]
        checked = bool(ctx.config.get("validate_first"))

        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            out: dict[int, RecordResult] = {}
            sending = list(chunk)
            if checked:
                messages = await self._validate(
                    _body([records[i] for i in sending]), ctx, "send_events"
                )
                flagged: dict[int, str] = {}
                for message in messages:
                    position = _event_index(str(message.get("fieldPath", "")))
                    if position is None or position >= len(sending):
                        # A request-level problem: no event of this request would count.
                        return {
                            i: RecordError(i, "ga4_validation", _describe([message]))
                            for i in sending
                        }
                    flagged.setdefault(sending[position], _describe([message]))
                for index, reason in flagged.items():
                    out[index] = RecordError(index, "ga4_validation", reason)
                sending = [i for i in sending if i not in flagged]
            if sending:
                await ctx.http.request(
                    "POST",
                    "/mp/collect",
                    operation="send_events",
                    params={"measurement_id": ctx.config["measurement_id"]},
                    json=_body([records[i] for i in sending]),
                )
            out.update({i: RecordOk(i, status="sent") for i in sending})
            return out

        results.update(await run_chunks(chunks, send))
        return OperationResult(
            records=tuple(results[i] for i in sorted(results)), data={"requests": len(chunks)}
        )


def _describe(messages: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(
        f"{m.get('validationCode', '?')} at {m.get('fieldPath', '?')}: {m.get('description', '')}"
        for m in messages[:3]
    )[:300]
