"""What syncs read from and write to Marketo (see ``connectors/sync_objects.py``).

- pull ``leads``: lead changes (``read_lead_changes``, from a paging token) name the leads
  that changed; their current values are read 300 ids a call (``read_leads``) — a change
  carries only the changed field, matching needs the email — and merged into profiles by
  email with the identity ``marketo_lead_id``, as of the lead's ``updatedAt``;
- pull ``activities``: lead activities of ``activity_type_ids`` become events
  (``event_type``, default ``marketo.activity``; id ``mkto_act_<marketoGUID>``);
- push ``leads``: profiles to ``upsert_leads`` (createOrUpdate on email); realtime, a
  person known only by a Munchkin cookie (identify trait ``marketo_cookie``) through
  ``link_cookies``; with the connection's ``munchkin_private_key``, every pushed profile
  gets the trait ``marketo_hash``;
- push ``activities``: events to custom activities (``activity_type_id``), the lead created
  first when the profile has none yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from renkei.connectors.munchkin import (
    COOKIE_IDENTITY,
    PRIVATE_KEY,
    is_munchkin_cookie,
    marketo_hash,
)
from renkei.connectors.sync_objects import (
    CookieLink,
    Page,
    PulledEvent,
    PullEvents,
    PullProfiles,
    PushEvents,
    PushProfiles,
    SyncCall,
    SyncObject,
)
from renkei.events.envelope import Event, parse_timestamp

__all__ = ["LEAD_ID", "MARKETO_SYNC_OBJECTS"]

LEAD_ID = "marketo_lead_id"
_BATCH = 300
_EPOCH = "1970-01-01T00:00:00Z"


async def _from_position(
    call: SyncCall,
    config: Mapping[str, Any],
    cursor: Mapping[str, Any],
    operation: str,
    input: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One page of ``operation`` from the cursor's paging token (the first read: from
    ``config.since``), and the cursor after it."""
    token = cursor.get("next_page_token")
    read: dict[str, Any] = {"batch_size": int(config.get("page_size") or _BATCH), "max_pages": 1}
    if token:
        read["next_page_token"] = token
    else:
        read["since"] = str(config.get("since") or _EPOCH)
    # A read from a date first fetches a paging token: one more call.
    result = await call(operation, read | input, calls=1 if token else 2)
    data: dict[str, Any] = result.data or {}
    return data, {"next_page_token": data.get("next_page_token") or token}


async def read_lead_page(
    call: SyncCall, config: Mapping[str, Any], cursor: Mapping[str, Any]
) -> Page:
    fields = [str(f) for f in config.get("fields") or ["email"]]
    data, after = await _from_position(
        call, config, cursor, "read_lead_changes", {"fields": fields}
    )
    changes = list(data.get("records") or [])
    leads = await _current_leads(call, config, changes)
    return Page(leads, after, bool(data.get("more")), read=len(changes))


async def _current_leads(
    call: SyncCall, config: Mapping[str, Any], changes: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The current values of the leads a page of lead changes names (one call per 300)."""
    ids = sorted({int(c["leadId"]) for c in changes if c.get("leadId") is not None})
    configured = [str(f) for f in config.get("fields") or []]
    fields = sorted({"id", "email", "updatedAt", *configured})
    leads: list[dict[str, Any]] = []
    for start in range(0, len(ids), _BATCH):
        result = await call("read_leads", {"ids": ids[start : start + _BATCH], "fields": fields})
        leads.extend((result.data or {}).get("records") or [])
    return leads


async def read_activity_page(
    call: SyncCall, config: Mapping[str, Any], cursor: Mapping[str, Any]
) -> Page:
    types = [int(t) for t in config.get("activity_type_ids") or [1]]
    data, after = await _from_position(
        call, config, cursor, "read_activities", {"activity_type_ids": types}
    )
    return Page(list(data.get("records") or []), after, bool(data.get("more")))


def activity_event(record: Mapping[str, Any], config: Mapping[str, Any]) -> PulledEvent:
    return PulledEvent(
        id=f"mkto_act_{record.get('marketoGUID') or record.get('id')}",
        type=str(config.get("event_type") or "marketo.activity"),
        name=str(record.get("primaryAttributeValue") or record.get("activityTypeId")),
        data={**record, LEAD_ID: record.get("leadId")},
        occurred_at=parse_timestamp(record.get("activityDate")),
    )


def activity_record(event: Event, lead_id: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """An event as a custom activity of its lead: its name, its id and its properties."""
    properties = (event.data or {}).get("properties") or {}
    activity: dict[str, Any] = {
        "leadId": int(lead_id),
        "activityDate": event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "primaryAttributeValue": str(event.name or event.type),
        "attributes": [
            {"name": "Event Id", "apiName": "eventId", "value": event.id},
            {
                "name": "Properties",
                "apiName": "properties",
                "value": json.dumps(properties, sort_keys=True)[:60000],
            },
        ],
    }
    if config.get("activity_type_id"):
        activity["activityTypeId"] = int(config["activity_type_id"])
    return activity


def munchkin_traits(credentials: Mapping[str, str], email: str) -> dict[str, Any]:
    """``marketo_hash`` for the email, when the connection holds the Munchkin private key."""
    key = credentials.get(PRIVATE_KEY)
    return {"marketo_hash": marketo_hash(key, email)} if key else {}


MARKETO_SYNC_OBJECTS: tuple[SyncObject, ...] = (
    PullProfiles("leads", read=read_lead_page, identity=LEAD_ID, modified="updatedAt"),
    PullEvents("activities", read=read_activity_page, event=activity_event),
    PushProfiles(
        "leads",
        write="upsert_leads",
        identity=LEAD_ID,
        batch_size=_BATCH,
        cookie_link=CookieLink(COOKIE_IDENTITY, write="link_cookies", valid=is_munchkin_cookie),
        derived_traits=munchkin_traits,
    ),
    PushEvents(
        "activities",
        write="add_activities",
        identity=LEAD_ID,
        create="upsert_leads",
        record=activity_record,
    ),
)
