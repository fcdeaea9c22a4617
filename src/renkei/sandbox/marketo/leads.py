"""Lead endpoints: Get Leads by Filter Type (``filterType=cookies`` finds the lead a
Munchkin cookie is associated with), Get Lead by Id, Sync Leads, Associate Lead, Delete
Leads, Describe Lead."""

from __future__ import annotations

import zlib
from typing import Any

from renkei.sandbox._common import Call, ViolationKind
from renkei.sandbox.marketo import params
from renkei.sandbox.marketo.config import LeadField
from renkei.sandbox.marketo.errors import MarketoError, blank, invalid_value, message, skipped
from renkei.sandbox.marketo.fields import DEFAULT_READ_FIELDS, FieldValueError, coerce
from renkei.sandbox.marketo.paging import lead_token, parse_lead_token
from renkei.sandbox.marketo.state import Lead, MarketoState

SYNC_ACTIONS = frozenset({"createOnly", "updateOnly", "createOrUpdate", "createDuplicate"})


# --- reads -----------------------------------------------------------------------------


def get_leads_by_filter(state: MarketoState, call: Call) -> dict[str, Any]:
    config = state.config
    lookup = _searchable_field(state, params.required_text(call, "filterType"))
    raw_values = params.values(call, "filterValues")
    if not raw_values:
        raise blank("filterValues")
    if len(raw_values) > config.filter_values_limit:
        state.violate(ViolationKind.LIST_SIZE, call.endpoint, f"{len(raw_values)} filterValues")
        raise MarketoError("1003", f"Too many filterValues, max is {config.filter_values_limit}")
    read_fields = _read_fields(state, call)
    size = page_size(state, call)
    wanted = [_filter_value(lookup, raw) for raw in raw_values]
    found = {lead.id: lead for value in wanted for lead in state.find_leads(lookup, value)}
    if len(found) > config.filter_match_limit:
        state.violate(ViolationKind.RESULT_CAP, call.endpoint, f"{len(found)} leads match")
        raise MarketoError("1003", "Too many results match the filter")
    matches = [found[lead_id] for lead_id in sorted(found)]
    query_key = _query_key(lookup.name, raw_values, read_fields)
    offset = _lead_offset(state, call, query_key)
    body: dict[str, Any] = {
        "result": [lead_json(lead, read_fields) for lead in matches[offset : offset + size]]
    }
    if offset + size < len(matches):
        body["moreResult"] = True
        body["nextPageToken"] = lead_token(query_key, offset + size)
    return body


def get_lead_by_id(state: MarketoState, call: Call) -> dict[str, Any]:
    raw_id = call.path_params["leadId"]
    if not raw_id.isdigit():
        raise invalid_value(raw_id, "Long")
    read_fields = _read_fields(state, call)
    lead = state.leads.get(int(raw_id))
    return {"result": [lead_json(lead, read_fields)] if lead else []}


def page_size(state: MarketoState, call: Call) -> int:
    maximum = state.config.page_size
    size = params.batch_size(call, maximum)
    if size > maximum:
        state.violate(ViolationKind.PAGE_SIZE, call.endpoint, f"batchSize={size}")
        raise MarketoError("1003", f"batchSize must be between 1 and {maximum}")
    return size


def lead_json(lead: Lead, read_fields: tuple[str, ...]) -> dict[str, Any]:
    # A requested field that is absent from a record is implied to be null (Leads docs).
    body: dict[str, Any] = {"id": lead.id}
    for name in read_fields:
        value = lead.get(name)
        if value is not None and name != "id":
            body[name] = value
    return body


def _read_fields(state: MarketoState, call: Call) -> tuple[str, ...]:
    names = params.values(call, "fields") or list(DEFAULT_READ_FIELDS)
    return tuple(known_field(state, name).name for name in names)


def _lead_offset(state: MarketoState, call: Call, query_key: str) -> int:
    token = params.text(call, "nextPageToken")
    if token is None:
        return 0
    offset = parse_lead_token(token, query_key)
    if offset is None:
        raise MarketoError("1003", "Invalid nextPageToken")
    state.counters.pages_served[token] += 1
    return offset


def _query_key(*parts: object) -> str:
    return f"{zlib.crc32(repr(parts).encode()):08x}"


def _filter_value(lookup: LeadField, raw: str) -> Any:
    if lookup.name == "cookies" and "_mch-" not in raw:
        raise MarketoError("1012", message("1012", raw))
    if lookup.data_type == "integer":
        try:
            return int(raw)
        except ValueError:
            raise invalid_value(raw, "Integer") from None
    return raw


def known_field(state: MarketoState, name: str) -> LeadField:
    """The schema field named ``name`` (any case); 1006 when there is none."""
    lead_field = state.schema.get(name)
    if lead_field is None:
        raise MarketoError("1006", message("1006", name))
    return lead_field


def _searchable_field(state: MarketoState, name: str) -> LeadField:
    lead_field = known_field(state, name)
    if not lead_field.searchable:
        raise MarketoError("1011", message("1011", name))
    return lead_field


# --- sync ------------------------------------------------------------------------------


def sync_leads(state: MarketoState, call: Call) -> dict[str, Any]:
    body = params.json_body(call)
    action = body.get("action") or "createOrUpdate"
    if action not in SYNC_ACTIONS:
        raise MarketoError("1003", f"Invalid action '{action}'")
    records = body.get("input")
    if not records:
        raise blank("input")
    if not isinstance(records, list):
        raise invalid_value(records, "List")
    if len(records) > state.config.batch_limit:
        state.violate(ViolationKind.BATCH_SIZE, call.endpoint, f"{len(records)} leads")
        raise MarketoError("1003", f"Too many records in input, max is {state.config.batch_limit}")
    lookup = _searchable_field(state, str(body.get("lookupField") or "email"))
    partition = body.get("partitionName")
    if partition not in (None, "Default"):
        raise MarketoError("1003", f"Invalid partition name '{partition}'")
    # asyncProcessing is accepted; the sandbox always processes synchronously.
    return {"result": [_sync_one(state, action, lookup, record) for record in records]}


def _sync_one(state: MarketoState, action: str, lookup: LeadField, record: Any) -> dict[str, Any]:
    if not isinstance(record, dict) or not record:
        return skipped("1003")
    try:
        values = _record_values(state, action, record)
    except _Skip as skip:
        return skip.result
    if action == "createDuplicate":
        return _created(state, values)
    key = values.get(lookup.name)
    if key is None:
        return skipped("1003", f"Value for lookup field '{lookup.name}' not specified")
    matches = state.find_leads(lookup, key)
    if len(matches) > 1 and action != "createOnly":
        return skipped("1007")
    if action == "createOnly":
        return skipped("1005") if matches else _created(state, values)
    if not matches:
        return skipped("1004") if action == "updateOnly" else _created(state, values)
    lead = matches[0]
    state.update_lead(lead, {k: v for k, v in values.items() if k != "id"})
    return {"id": lead.id, "status": "updated"}


def _created(state: MarketoState, values: dict[str, Any]) -> dict[str, Any]:
    lead = state.create_lead({k: v for k, v in values.items() if k != "id"})
    return {"id": lead.id, "status": "created"}


class _Skip(Exception):
    def __init__(self, code: str, text: str | None = None) -> None:
        super().__init__(code)
        self.result = skipped(code, text)


def _record_values(state: MarketoState, action: str, record: dict[str, Any]) -> dict[str, Any]:
    """The record's values under canonical field names; raises _Skip for a bad record."""
    values: dict[str, Any] = {}
    for name, raw in record.items():
        lead_field = state.schema.get(name)
        if lead_field is None:
            raise _Skip("1006", message("1006", name))
        if lead_field.name == "id":
            if action != "updateOnly":
                raise _Skip("1003", "Field 'id' is only allowed with action updateOnly")
        elif lead_field.read_only:
            raise _Skip("1003", f"Field '{lead_field.name}' is read only")
        try:
            values[lead_field.name] = coerce(lead_field, raw)
        except FieldValueError as exc:
            raise _Skip("1001", str(exc)) from None
    return values


# --- describe --------------------------------------------------------------------------


def describe(state: MarketoState, call: Call) -> dict[str, Any]:
    result = []
    for lead_field in state.schema.fields:
        item: dict[str, Any] = {
            "id": state.schema.field_id(lead_field),
            "displayName": lead_field.label,
            "dataType": lead_field.data_type,
        }
        if lead_field.length is not None:
            item["length"] = lead_field.length
        item["rest"] = {"name": lead_field.name, "readOnly": lead_field.read_only}
        soap_name = lead_field.name[:1].upper() + lead_field.name[1:]
        item["soap"] = {"name": soap_name, "readOnly": lead_field.read_only}
        result.append(item)
    return {"result": result}


def describe2(state: MarketoState, call: Call) -> dict[str, Any]:
    fields = []
    for lead_field in state.schema.fields:
        item: dict[str, Any] = {
            "name": lead_field.name,
            "displayName": lead_field.label,
            "dataType": lead_field.data_type,
        }
        if lead_field.length is not None:
            item["length"] = lead_field.length
        item["updateable"] = not lead_field.read_only
        item["crmManaged"] = False
        fields.append(item)
    searchable = [[lead_field.name] for lead_field in state.schema.searchable]
    return {"result": [{"name": "API Lead", "searchableFields": searchable, "fields": fields}]}


# --- associate -------------------------------------------------------------------------


def associate_lead(state: MarketoState, call: Call) -> dict[str, Any]:
    """``POST /rest/v1/leads/{leadId}/associate.json?cookie=``: the lead takes the Munchkin
    cookie (1004 for no such lead, 1012 for a value that is not a ``_mkto_trk`` cookie)."""
    raw_id = call.path_params["leadId"]
    if not raw_id.isdigit():
        raise invalid_value(raw_id, "Long")
    cookie = params.required_text(call, "cookie")
    if "_mch-" not in cookie:
        raise MarketoError("1012", message("1012", cookie))
    lead = state.leads.get(int(raw_id))
    if lead is None:
        raise MarketoError("1004", message("1004"))
    state.associate(lead, cookie)
    return {"result": []}


# --- delete ----------------------------------------------------------------------------


def delete_leads(state: MarketoState, call: Call) -> dict[str, Any]:
    """``POST /rest/v1/leads/delete.json``: ``{"input": [{"id": ...}]}`` (or ``?id=1,2``
    with no body); per lead ``deleted``, or ``skipped`` with 1004 when there is none."""
    body = params.json_body(call) if call.body else {}
    records = body.get("input")
    if records is None:
        raw = params.values(call, "id")
        records = [{"id": value} for value in raw]
    if not records:
        raise blank("input")
    if not isinstance(records, list):
        raise invalid_value(records, "List")
    if len(records) > state.config.batch_limit:
        state.violate(ViolationKind.BATCH_SIZE, call.endpoint, f"{len(records)} leads")
        raise MarketoError("1003", f"Too many records in input, max is {state.config.batch_limit}")
    result: list[dict[str, Any]] = []
    for record in records:
        raw_id = record.get("id") if isinstance(record, dict) else None
        try:
            lead_id = int(raw_id) if raw_id is not None and not isinstance(raw_id, bool) else None
        except (TypeError, ValueError):
            lead_id = None
        if lead_id is None:
            result.append(skipped("1003", "Value for field 'id' not specified"))
        elif state.delete_lead(lead_id):
            result.append({"id": lead_id, "status": "deleted"})
        else:
            result.append({"id": lead_id, **skipped("1004", "Lead not found")})
    return {"result": result}
