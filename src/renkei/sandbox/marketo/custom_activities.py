"""Add Custom Activities: write-once records of a custom activity type, up to 300 per
call, each answered ``added`` or ``skipped`` with ``errors`` (Activities docs)."""

from __future__ import annotations

import json
from typing import Any

from renkei.sandbox._common import Call, ViolationKind, parse_datetime
from renkei.sandbox.marketo import params
from renkei.sandbox.marketo.config import ActivityAttribute, ActivityType
from renkei.sandbox.marketo.errors import MarketoError, blank, invalid_value, message, reason
from renkei.sandbox.marketo.state import Activity, MarketoState

_REQUIRED = ("leadId", "activityDate", "activityTypeId", "primaryAttributeValue", "attributes")


def add_custom_activities(state: MarketoState, call: Call) -> dict[str, Any]:
    body = params.json_body(call)
    records = body.get("input")
    if not records:
        raise blank("input")
    if not isinstance(records, list):
        raise invalid_value(records, "List")
    if len(records) > state.config.batch_limit:
        state.violate(ViolationKind.BATCH_SIZE, call.endpoint, f"{len(records)} activities")
        raise MarketoError("1003", f"Too many records in input, max is {state.config.batch_limit}")
    return {"result": [_add_one(state, record) for record in records]}


class _Rejected(Exception):
    def __init__(self, code: str, text: str | None = None) -> None:
        super().__init__(code)
        self.result = {"status": "skipped", "errors": [reason(code, text)]}


def _add_one(state: MarketoState, record: Any) -> dict[str, Any]:
    try:
        activity = _custom_activity(state, record)
    except _Rejected as rejected:
        return rejected.result
    return {"id": activity.id, "marketoGUID": str(activity.id), "status": "added"}


def _custom_activity(state: MarketoState, record: Any) -> Activity:
    if not isinstance(record, dict):
        raise _Rejected("1003")
    for name in _REQUIRED:
        if record.get(name) in (None, ""):
            raise _Rejected("1002", message("1002", name))
    activity_type = _custom_type(state, record["activityTypeId"])
    lead_id = _integer(record["leadId"], "Long")
    if lead_id not in state.leads:
        raise _Rejected("1004")
    when = (
        parse_datetime(record["activityDate"]) if isinstance(record["activityDate"], str) else None
    )
    if when is None:
        raise _Rejected("1001", message("1001", record["activityDate"], "Datetime"))
    attributes = _attributes(state, activity_type, record["attributes"])
    return state.add_activity(
        lead_id,
        activity_type.id,
        activity_date=when,
        primary_attribute_value=str(record["primaryAttributeValue"]),
        attributes=attributes,
    )


def _custom_type(state: MarketoState, raw: Any) -> ActivityType:
    type_id = _integer(raw, "Integer")
    activity_type = state.activity_types.get(type_id)
    if activity_type is None or not activity_type.is_custom:
        raise _Rejected("1003", f"Invalid activityTypeId '{raw}'")
    return activity_type


def _integer(raw: Any, data_type: str) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    raise _Rejected("1001", message("1001", raw, data_type))


def _attributes(state: MarketoState, activity_type: ActivityType, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise _Rejected("1001", message("1001", raw, "List"))
    if len(json.dumps(raw).encode()) > state.config.attributes_max_bytes:
        raise _Rejected("1049", "Attributes array too long")
    stored = []
    for item in raw:
        key = (item.get("apiName") or item.get("name")) if isinstance(item, dict) else None
        attribute = _attribute(activity_type, key) if isinstance(key, str) else None
        if attribute is None:
            raise _Rejected("1006", message("1006", key))
        stored.append(
            {"name": attribute.name, "apiName": attribute.api_name, "value": item.get("value")}
        )
    return stored


def _attribute(activity_type: ActivityType, key: str) -> ActivityAttribute | None:
    for attribute in activity_type.attributes:
        if key.lower() in {attribute.name.lower(), (attribute.api_name or "").lower()}:
            return attribute
    return None
