"""The standard activity types every Marketo instance has (a representative subset,
with Marketo's ids)."""

from __future__ import annotations

from renkei.sandbox.marketo.config import ActivityAttribute, ActivityType

VISIT_WEBPAGE = 1
NEW_LEAD = 12
CHANGE_DATA_VALUE = 13

_A = ActivityAttribute

STANDARD_ACTIVITY_TYPES: tuple[ActivityType, ...] = (
    ActivityType(
        VISIT_WEBPAGE,
        "Visit Webpage",
        _A("Webpage ID", "integer"),
        (
            _A("Client IP Address", "string"),
            _A("Query Parameters", "string"),
            _A("Referrer URL", "string"),
            _A("User Agent", "string"),
            _A("Webpage URL", "string"),
        ),
        "User visits a web page",
    ),
    ActivityType(
        2,
        "Fill Out Form",
        _A("Webform ID", "integer"),
        (
            _A("Client IP Address", "string"),
            _A("Form Fields", "text"),
            _A("Query Parameters", "string"),
            _A("Referrer URL", "string"),
            _A("User Agent", "string"),
            _A("Webpage ID", "integer"),
        ),
        "User fills out and submits form on web page",
    ),
    ActivityType(3, "Click Link", _A("Link ID", "integer"), (), "User clicks link on a page"),
    ActivityType(6, "Send Email", _A("Mailing ID", "integer"), (), "Send Marketo Email"),
    ActivityType(7, "Email Delivered", _A("Mailing ID", "integer"), (), "Email delivered"),
    ActivityType(10, "Open Email", _A("Mailing ID", "integer"), (), "User opens Marketo Email"),
    ActivityType(11, "Click Email", _A("Mailing ID", "integer"), (), "User clicks on a link"),
    ActivityType(
        NEW_LEAD,
        "New Lead",
        _A("Lead ID", "integer"),
        (_A("Source Type", "string"), _A("Form Name", "string"), _A("List Name", "string")),
        "New person",
    ),
    ActivityType(
        CHANGE_DATA_VALUE,
        "Change Data Value",
        _A("Attribute Name", "string"),
        (
            _A("New Value", "string"),
            _A("Old Value", "string"),
            _A("Reason", "string"),
            _A("Source", "string"),
        ),
        "Changed attribute value for a person",
    ),
    ActivityType(37, "Delete Lead", _A("Lead ID", "integer"), (_A("Remove from CRM", "boolean"),)),
)


def type_json(activity_type: ActivityType) -> dict[str, object]:
    """An ActivityType as Get Activity Types returns it."""
    body: dict[str, object] = {"id": activity_type.id, "name": activity_type.name}
    if activity_type.api_name:
        body["apiName"] = activity_type.api_name
    if activity_type.description:
        body["description"] = activity_type.description
    body["primaryAttribute"] = _attribute_json(activity_type.primary_attribute)
    body["attributes"] = [_attribute_json(a) for a in activity_type.attributes]
    return body


def custom_type_json(activity_type: ActivityType, created_at: str) -> dict[str, object]:
    """A custom ActivityType as Get Custom Activity Types returns it."""
    return {
        "id": activity_type.id,
        "apiName": activity_type.api_name,
        "name": activity_type.name,
        "description": activity_type.description,
        "triggerName": activity_type.trigger_name or activity_type.name,
        "filterName": activity_type.filter_name or activity_type.name,
        "createdAt": created_at,
        "updatedAt": created_at,
        "status": "approved",
        "primaryAttribute": _attribute_json(activity_type.primary_attribute, described=True),
        "attributes": [_attribute_json(a, described=True) for a in activity_type.attributes],
    }


def _attribute_json(attribute: ActivityAttribute, described: bool = False) -> dict[str, object]:
    body: dict[str, object] = {"name": attribute.name, "dataType": attribute.data_type}
    if attribute.api_name:
        body["apiName"] = attribute.api_name
    if described and attribute.description:
        body["description"] = attribute.description
    return body
