"""Activity endpoints: Get Paging Token, Get Lead Activities, Get Lead Changes, Get
Activity Types and Get Custom Activity Types.

Activities are read in log order (activity date, then id) after the position a
date-based paging token marks; every page answers a token for the position after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from renkei.sandbox._common import (
    Call,
    ViolationKind,
    epoch_millis,
    iso_seconds,
    parse_datetime,
)
from renkei.sandbox.marketo import params
from renkei.sandbox.marketo.activity_types import NEW_LEAD, custom_type_json
from renkei.sandbox.marketo.activity_types import type_json as activity_type_json
from renkei.sandbox.marketo.errors import MarketoError, blank, invalid_value
from renkei.sandbox.marketo.leads import known_field, page_size
from renkei.sandbox.marketo.paging import LogPosition, activity_token, parse_activity_token
from renkei.sandbox.marketo.state import Activity, MarketoState

# --- reading the log -------------------------------------------------------------------


def get_paging_token(state: MarketoState, call: Call) -> dict[str, Any]:
    raw = params.required_text(call, "sinceDatetime")
    since = parse_datetime(raw)
    if since is None:
        raise invalid_value(raw, "Datetime")
    return {"nextPageToken": activity_token(LogPosition(epoch_millis(since), 0))}


def get_activities(state: MarketoState, call: Call) -> dict[str, Any]:
    token, position = _position(call)
    type_ids = _activity_type_ids(state, call)
    lead_ids = _lead_ids(state, call)
    asset_ids = set(params.integers(call, "assetIds"))
    size = page_size(state, call)

    def wanted(activity: Activity) -> bool:
        return (
            activity.activity_type_id in type_ids
            and (not lead_ids or activity.lead_id in lead_ids)
            and (not asset_ids or activity.primary_attribute_value_id in asset_ids)
        )

    return _page(state, token, position, size, wanted, activity_json)


def get_lead_changes(state: MarketoState, call: Call) -> dict[str, Any]:
    token, position = _position(call)
    names = {known_field(state, name).name for name in params.values(call, "fields")}
    if not names:
        raise blank("fields")
    lead_ids = _lead_ids(state, call)
    size = page_size(state, call)

    def wanted(activity: Activity) -> bool:
        relevant = activity.activity_type_id == NEW_LEAD or (
            activity.change is not None and activity.change.name in names
        )
        return relevant and (not lead_ids or activity.lead_id in lead_ids)

    return _page(state, token, position, size, wanted, lead_change_json)


def _position(call: Call) -> tuple[str, LogPosition]:
    token = params.required_text(call, "nextPageToken")
    position = parse_activity_token(token)
    if position is None:
        raise MarketoError("1003", "Invalid nextPageToken")
    if params.text(call, "listId") is not None:
        raise MarketoError("1013", "Static list not found")
    return token, position


def _activity_type_ids(state: MarketoState, call: Call) -> set[int]:
    type_ids = params.integers(call, "activityTypeIds")
    if not type_ids:
        raise blank("activityTypeIds")
    limit = state.config.activity_type_ids_limit
    if len(type_ids) > limit:
        state.violate(ViolationKind.LIST_SIZE, call.endpoint, f"{len(type_ids)} activityTypeIds")
        raise MarketoError("1003", f"Too many activityTypeIds, max is {limit}")
    unknown = sorted(set(type_ids) - set(state.activity_types))
    if unknown:
        raise MarketoError("1003", f"Invalid activity type id(s): {unknown}")
    return set(type_ids)


def _lead_ids(state: MarketoState, call: Call) -> set[int]:
    lead_ids = params.integers(call, "leadIds")
    limit = state.config.lead_ids_limit
    if len(lead_ids) > limit:
        state.violate(ViolationKind.LIST_SIZE, call.endpoint, f"{len(lead_ids)} leadIds")
        raise MarketoError("1003", f"Too many leadIds, max is {limit}")
    return set(lead_ids)


def _log_position(activity: Activity) -> LogPosition:
    return LogPosition(epoch_millis(activity.activity_date), activity.id)


def _page(
    state: MarketoState,
    token: str,
    position: LogPosition,
    size: int,
    wanted: Callable[[Activity], bool],
    render: Callable[[Activity], dict[str, Any]],
) -> dict[str, Any]:
    after = [a for a in state.activities if _log_position(a) > position and wanted(a)]
    after.sort(key=_log_position)
    page = after[:size]
    last = _log_position(page[-1]) if page else position
    state.counters.pages_served[token] += 1
    return {
        "result": [render(activity) for activity in page],
        "nextPageToken": activity_token(last),
        "moreResult": len(after) > size,
    }


# --- rendering -------------------------------------------------------------------------


def activity_json(activity: Activity) -> dict[str, Any]:
    body = _common_json(activity)
    if activity.primary_attribute_value_id is not None:
        body["primaryAttributeValueId"] = activity.primary_attribute_value_id
    if activity.primary_attribute_value is not None:
        body["primaryAttributeValue"] = activity.primary_attribute_value
    # An empty attribute is omitted from the record (Activities docs).
    body["attributes"] = [a for a in activity.attributes if a.get("value") is not None]
    return body


def lead_change_json(activity: Activity) -> dict[str, Any]:
    body = _common_json(activity)
    attributes = activity.attributes
    if activity.change is not None:
        change = activity.change
        body["fields"] = [
            {
                "id": change.field_id,
                "name": change.name,
                "newValue": _as_text(change.new_value),
                "oldValue": _as_text(change.old_value),
            }
        ]
        attributes = [a for a in attributes if a["name"] not in {"New Value", "Old Value"}]
        attributes = [*attributes, {"name": "Lead ID", "value": activity.lead_id}]
    body["attributes"] = [a for a in attributes if a.get("value") is not None]
    return body


def _common_json(activity: Activity) -> dict[str, Any]:
    return {
        "id": activity.id,
        "marketoGUID": str(activity.id),
        "leadId": activity.lead_id,
        "activityDate": iso_seconds(activity.activity_date),
        "activityTypeId": activity.activity_type_id,
    }


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- activity types --------------------------------------------------------------------


def get_activity_types(state: MarketoState, call: Call) -> dict[str, Any]:
    return {"result": [activity_type_json(t) for t in state.activity_types.values()]}


def get_custom_activity_types(state: MarketoState, call: Call) -> dict[str, Any]:
    created = iso_seconds(state.created_at)
    custom = [t for t in state.activity_types.values() if t.is_custom]
    return {"result": [custom_type_json(t, created) for t in custom]}
