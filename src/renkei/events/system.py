"""The event types Renkei itself publishes about failures and alerts, with their schemas.

They are ordinary events (endpoints, flows and the Slack connector take them like any
other), recorded in the transaction that records what they report. A payload names ids
and a short reason: never a secret, never a person's data. :func:`system_event` checks a
payload against its type's schema, so what subscribers are promised is what they get.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator

from renkei.events.envelope import Event
from renkei.ids import new_id

__all__ = [
    "ALERT_OPENED",
    "ALERT_RESOLVED",
    "CONNECTION_FAILING",
    "CONNECTION_NEEDS_REAUTH",
    "CONNECTION_RECOVERED",
    "FLOW_RUN_FAILED",
    "SYNC_RUN_FAILED",
    "SYSTEM_EVENT_TYPES",
    "SystemEventType",
    "short_reason",
    "system_event",
]

FLOW_RUN_FAILED = "flow.run.failed"
SYNC_RUN_FAILED = "sync.run.failed"
CONNECTION_FAILING = "connection.failing"
CONNECTION_RECOVERED = "connection.recovered"
CONNECTION_NEEDS_REAUTH = "connection.needs_reauth"
ALERT_OPENED = "alert.opened"
ALERT_RESOLVED = "alert.resolved"

REASON_LENGTH = 200
_ID = {"type": "string", "minLength": 1, "maxLength": 255}
_REASON = {"type": "string", "maxLength": REASON_LENGTH}
_TIME = {"type": "string", "format": "date-time"}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": sorted(required),
        "additionalProperties": False,
    }


_ALERT = _object(
    {
        "alert_id": _ID,
        "kind": {"type": "string"},
        "subject_type": {"type": "string"},
        "subject_id": _ID,
        "status": {"enum": ["open", "acknowledged", "resolved"]},
        "first_seen": _TIME,
        "last_seen": _TIME,
        "count": {"type": "integer", "minimum": 1},
        "reason": _REASON,
    }
)


@dataclass(frozen=True)
class SystemEventType:
    name: str
    description: str
    schema: dict[str, Any]

    def validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.schema)


SYSTEM_EVENT_TYPES: dict[str, SystemEventType] = {
    kind.name: kind
    for kind in (
        SystemEventType(
            FLOW_RUN_FAILED,
            "A flow run failed for good (its step's retries spent, or it could not start).",
            _object(
                {"flow_id": _ID, "run_id": _ID, "reason": _REASON},
                {"version": {"type": "integer"}, "event_id": _ID},
            ),
        ),
        SystemEventType(
            SYNC_RUN_FAILED,
            "A sync run failed for good.",
            _object({"sync_id": _ID, "run_id": _ID, "reason": _REASON}),
        ),
        SystemEventType(
            CONNECTION_FAILING,
            "Calls to a connection have been failing for RENKEI_CONNECTION_FAILING_AFTER_SECONDS.",
            _object({"connection_id": _ID, "failing_since": _TIME, "reason": _REASON}),
        ),
        SystemEventType(
            CONNECTION_RECOVERED,
            "A call to a connection that was failing succeeded.",
            _object({"connection_id": _ID, "failing_since": _TIME, "recovered_at": _TIME}),
        ),
        SystemEventType(
            CONNECTION_NEEDS_REAUTH,
            "An OAuth-connected connection lost its grant (revoked, or expired without a "
            "refresh): someone must Connect it again.",
            _object({"connection_id": _ID, "connector": _ID, "reason": _REASON}),
        ),
        SystemEventType(ALERT_OPENED, "An alert opened (once per alert).", _ALERT),
        SystemEventType(ALERT_RESOLVED, "An alert resolved (once per alert).", _ALERT),
    )
}
_VALIDATORS = {name: kind.validator() for name, kind in SYSTEM_EVENT_TYPES.items()}


def short_reason(text: str) -> str:
    """The first line of an error, clipped: enough to say what failed."""
    first = text.strip().splitlines()[0] if text.strip() else "unknown"
    return first[:REASON_LENGTH]


def system_event(
    event_type: str, data: dict[str, Any], *, at: datetime, event_id: str | None = None
) -> Event:
    """An event of a system type; ``event_id`` makes it deterministic (a retried
    transaction records it once). A payload that breaks its schema is a bug: ValueError."""
    errors = list(_VALIDATORS[event_type].iter_errors(data))
    if errors:
        raise ValueError(f"{event_type} payload: {errors[0].message}")
    return Event(
        id=event_id or new_id("evt"),
        type=event_type,
        name=None,
        data=data,
        occurred_at=at,
        received_at=at,
        source_id="renkei",
    )
