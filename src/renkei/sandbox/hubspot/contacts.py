"""Contact endpoints: list with ``after`` paging, read by id or unique property, and
batch upsert keyed by ``idProperty``."""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from typing import Any

from renkei.sandbox._common import Call, ViolationKind, iso_millis
from renkei.sandbox.hubspot.errors import HubSpotError, json_object, validation
from renkei.sandbox.hubspot.properties import (
    DEFAULT_PROPERTIES,
    UNIQUE_PROPERTIES,
    PropertyError,
)
from renkei.sandbox.hubspot.state import Contact, HubSpotState

Result = tuple[int, Any]


def list_contacts(state: HubSpotState, call: Call) -> Result:
    limit = _limit(state, call)
    after = call.query.get("after")
    start = _decode_cursor(after) if after else 0
    if after:
        state.counters.pages_served[after] += 1
    archived = call.query.get("archived", "false").lower() == "true"
    names = requested_properties(call.query.getlist("properties"))
    matching = sorted(
        (c for c in state.contacts.values() if c.archived == archived and c.id >= start),
        key=lambda c: c.id,
    )
    page = matching[:limit]
    body: dict[str, Any] = {"results": [c.to_json(names, state.schema) for c in page]}
    if len(matching) > limit:
        cursor = _encode_cursor(page[-1].id + 1)
        body["paging"] = {"next": {"after": cursor, "link": f"?after={cursor}"}}
    return 200, body


def get_contact(state: HubSpotState, call: Call) -> Result:
    id_property = call.query.get("idProperty") or "hs_object_id"
    if id_property not in UNIQUE_PROPERTIES:
        raise validation(f"{id_property} is not a unique identifier property")
    contact = state.find(id_property, call.path_params["contactId"])
    if contact is None:
        raise HubSpotError(404, "OBJECT_NOT_FOUND", "resource not found")
    names = requested_properties(call.query.getlist("properties"))
    return 200, contact.to_json(names, state.schema)


def gdpr_delete(state: HubSpotState, call: Call) -> Result:
    """``POST /crm/v3/objects/contacts/gdpr-delete`` (PublicGdprDeleteInput): the contact
    and everything recorded about it are gone for good; 204, or 404 when none matches."""
    body = json_object(call)
    object_id = body.get("objectId")
    if not isinstance(object_id, str) or not object_id:
        raise validation("objectId is required and must be a string")
    id_property = body.get("idProperty") or "hs_object_id"
    if id_property not in UNIQUE_PROPERTIES:
        raise validation(f"{id_property} is not a unique identifier property")
    contact = state.find(id_property, object_id)
    if contact is None:
        raise HubSpotError(404, "OBJECT_NOT_FOUND", "resource not found")
    state.purge(contact)
    return 204, None


def requested_properties(raw: list[str]) -> tuple[str, ...]:
    names = [part.strip().lower() for item in raw for part in item.split(",") if part.strip()]
    return tuple(names) or DEFAULT_PROPERTIES


def _limit(state: HubSpotState, call: Call) -> int:
    raw = call.query.get("limit", "10")
    if not raw.isdigit() or int(raw) < 1:
        raise validation(f"limit must be a positive integer, got {raw}")
    if int(raw) > state.config.list_page_limit:
        state.violate(ViolationKind.PAGE_SIZE, call.endpoint, f"limit={raw}")
        raise validation(f"limit must be at most {state.config.list_page_limit}, got {raw}")
    return int(raw)


def _encode_cursor(next_id: int) -> str:
    return base64.urlsafe_b64encode(f"{next_id}\n".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(decoded.strip())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise validation(f"Invalid paging cursor: {cursor}") from None


# --- batch upsert ----------------------------------------------------------------------


def batch_upsert(state: HubSpotState, call: Call) -> Result:
    started = state.clock.now()
    inputs = _upsert_inputs(state, call)
    prepared = [_prepare(state, item) for item in inputs]
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for id_property, key, properties in prepared:
        outcome = _upsert_one(state, id_property, key, properties)
        if isinstance(outcome, HubSpotError):
            errors.append(_standard_error(outcome, key))
        else:
            results.append(outcome)
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso_millis(started),
        "completedAt": iso_millis(state.clock.now()),
    }
    if errors:
        body["errors"] = errors
        body["numErrors"] = len(errors)
        return 207, body
    return 200, body


def _upsert_inputs(state: HubSpotState, call: Call) -> list[Any]:
    inputs = json_object(call).get("inputs")
    if not isinstance(inputs, list):
        raise validation("inputs is required and must be an array")
    limit = state.config.batch_limit
    if len(inputs) > limit:
        state.violate(ViolationKind.BATCH_SIZE, call.endpoint, f"{len(inputs)} inputs")
        raise validation(f"Batch input size {len(inputs)} exceeds the maximum of {limit}")
    counts = Counter(_input_key(item) for item in inputs if isinstance(item, dict))
    duplicates = sorted(key for (_, key), seen in counts.items() if seen > 1)
    if duplicates:
        raise validation(f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique")
    return inputs


def _input_key(item: dict[str, Any]) -> tuple[str, str]:
    return str(item.get("idProperty") or "hs_object_id").lower(), str(item.get("id", "")).lower()


def _prepare(state: HubSpotState, item: Any) -> tuple[str, str, dict[str, str]]:
    """Validated (idProperty, id, properties); a bad input fails the whole batch."""
    if not isinstance(item, dict):
        raise validation("Each input must be an object")
    key, properties = item.get("id"), item.get("properties")
    if not isinstance(key, str | int) or str(key) == "" or not isinstance(properties, dict):
        raise validation("Each input requires an id and a properties object")
    id_property = str(item.get("idProperty") or "hs_object_id").lower()
    if id_property not in UNIQUE_PROPERTIES:
        raise validation(f"{id_property} is not a unique identifier property")
    normalized: dict[str, str] = {}
    problems: list[dict[str, Any]] = []
    for name, raw in properties.items():
        try:
            normalized[name.lower()] = state.schema.normalize(name.lower(), raw)
        except PropertyError as exc:
            problems.append(exc.detail)
    if problems:
        raise validation(
            "Property values were not valid: " + "; ".join(p["message"] for p in problems),
            errors=problems,
        )
    return id_property, str(key), normalized


def _upsert_one(
    state: HubSpotState, id_property: str, key: str, properties: dict[str, str]
) -> dict[str, Any] | HubSpotError:
    contact = state.find(id_property, key)
    if contact is None and id_property == "hs_object_id":
        return HubSpotError(404, "OBJECT_NOT_FOUND", f"No contact with id {key}")
    if contact is None:
        properties = {**properties, id_property: key.lower()}
        return _upsert_json(state, state.create(properties), properties, created=True)
    state.update(contact, properties)
    return _upsert_json(state, contact, properties, created=False)


def _upsert_json(
    state: HubSpotState, contact: Contact, written: dict[str, str], created: bool
) -> dict[str, Any]:
    names = tuple(dict.fromkeys([*written, "createdate", "lastmodifieddate", "hs_object_id"]))
    body = contact.to_json(names, state.schema)
    body["new"] = created
    return body


def _standard_error(error: HubSpotError, key: str) -> dict[str, Any]:
    return {
        "status": "error",
        "category": error.category,
        "message": error.text,
        "context": {"ids": [key]},
        "errors": [],
        "links": {},
    }
