"""The lead schema: Marketo's standard fields plus the configured custom ones, and the
conversion of submitted values to each field's data type."""

from __future__ import annotations

import re
from typing import Any

from renkei.sandbox._common import iso_seconds, parse_datetime
from renkei.sandbox.marketo.config import LeadField

STANDARD_FIELDS: tuple[LeadField, ...] = (
    LeadField("id", "integer", "Id", read_only=True, searchable=True),
    LeadField("email", "email", "Email Address", 255, searchable=True),
    LeadField("salutation", "string", "Salutation", 255),
    LeadField("firstName", "string", "First Name", 255),
    LeadField("middleName", "string", "Middle Name", 255),
    LeadField("lastName", "string", "Last Name", 255),
    LeadField("title", "string", "Job Title", 255),
    LeadField("company", "string", "Company Name", 255),
    LeadField("phone", "phone", "Phone Number", 255),
    LeadField("mobilePhone", "phone", "Mobile Phone Number", 255),
    LeadField("address", "text", "Address"),
    LeadField("city", "string", "City", 255),
    LeadField("state", "string", "State", 255),
    LeadField("country", "string", "Country", 255),
    LeadField("postalCode", "string", "Postal Code", 255),
    LeadField("website", "url", "Website", 255),
    LeadField("dateOfBirth", "date", "Date of Birth"),
    LeadField("leadSource", "string", "Person Source", 255),
    LeadField("leadStatus", "string", "Person Status", 255),
    LeadField("leadScore", "integer", "Person Score"),
    LeadField("unsubscribed", "boolean", "Unsubscribed"),
    LeadField("unsubscribedReason", "text", "Unsubscribed Reason"),
    LeadField("doNotCall", "boolean", "Do Not Call"),
    LeadField("cookies", "string", "Cookies", 255, searchable=True),
    LeadField("leadPartitionId", "integer", "Lead Partition Id", searchable=True),
    LeadField("sfdcLeadId", "string", "SFDC Lead Id", 18, read_only=True, searchable=True),
    LeadField("sfdcContactId", "string", "SFDC Contact Id", 18, read_only=True, searchable=True),
    LeadField("createdAt", "datetime", "Created At", read_only=True),
    LeadField("updatedAt", "datetime", "Updated At", read_only=True),
)

# Fields returned when a read names no ``fields`` (Get Leads docs).
DEFAULT_READ_FIELDS = ("id", "email", "updatedAt", "createdAt", "firstName", "lastName")

# Custom fields can be a filterType only with these types (Get Leads by Filter Type docs).
_SEARCHABLE_CUSTOM_TYPES = frozenset({"string", "email", "integer"})
_STRING_TYPES = frozenset(
    {"string", "email", "phone", "url", "text", "textarea", "reference", "picklist"}
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FieldValueError(ValueError):
    """A value that does not fit its field's type; Marketo reports it as 1001."""

    def __init__(self, value: Any, data_type: str) -> None:
        super().__init__(f"Invalid value '{value}'. Required of type '{data_type}'")


class LeadSchema:
    def __init__(self, custom_fields: tuple[LeadField, ...]) -> None:
        custom = tuple(
            LeadField(
                f.name,
                f.data_type,
                f.display_name,
                f.length,
                f.read_only,
                f.searchable or f.data_type in _SEARCHABLE_CUSTOM_TYPES,
            )
            for f in custom_fields
        )
        self.fields: tuple[LeadField, ...] = STANDARD_FIELDS + custom
        self._by_name = {f.name.lower(): f for f in self.fields}

    def get(self, name: str) -> LeadField | None:
        return self._by_name.get(name.lower())

    def field_id(self, field: LeadField) -> int:
        return self.fields.index(field) + 1

    @property
    def searchable(self) -> tuple[LeadField, ...]:
        return tuple(f for f in self.fields if f.searchable)


def coerce(field: LeadField, value: Any) -> Any:
    """``value`` as stored for ``field``; None clears the field."""
    if value is None:
        return None
    kind = field.data_type
    if kind in _STRING_TYPES:
        return _coerce_string(kind, value)
    if kind == "integer":
        return _coerce_integer(value)
    if kind in {"float", "currency", "score"}:
        return _coerce_float(kind, value)
    if kind == "boolean":
        return _coerce_boolean(value)
    if kind == "date":
        return _coerce_date(value)
    if kind == "datetime":
        return _coerce_datetime(value)
    return value


def _coerce_string(kind: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldValueError(value, kind)
    text = str(value)
    if kind == "email" and text and ("@" not in text or not text.isascii()):
        raise FieldValueError(value, kind)
    return text


def _coerce_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise FieldValueError(value, "integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise FieldValueError(value, "integer")


def _coerce_float(kind: str, value: Any) -> float:
    if isinstance(value, bool):
        raise FieldValueError(value, kind)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise FieldValueError(value, kind) from None


def _coerce_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
        return value.strip().lower() in {"true", "1"}
    raise FieldValueError(value, "boolean")


def _coerce_date(value: Any) -> str:
    if isinstance(value, str) and _DATE.match(value) and parse_datetime(value):
        return value
    raise FieldValueError(value, "date")


def _coerce_datetime(value: Any) -> str:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise FieldValueError(value, "datetime")
    return iso_seconds(parsed)
