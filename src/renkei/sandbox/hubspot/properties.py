"""Contact properties: which exist, which are read-only, and how a submitted value is
checked and stored. HubSpot stores every value as a string; dates as ``YYYY-MM-DD``,
date-times as ISO 8601, either accepted as ISO text or unix milliseconds."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from renkei.sandbox._common import epoch_millis, iso_millis, parse_datetime

STANDARD_PROPERTIES: dict[str, str] = {
    "email": "string",
    "firstname": "string",
    "lastname": "string",
    "phone": "string",
    "mobilephone": "string",
    "company": "string",
    "website": "string",
    "jobtitle": "string",
    "address": "string",
    "city": "string",
    "state": "string",
    "zip": "string",
    "country": "string",
    "lifecyclestage": "enumeration",
    "hs_lead_status": "enumeration",
    "hubspot_owner_id": "enumeration",
    "date_of_birth": "string",
    "createdate": "datetime",
    "lastmodifieddate": "datetime",
    "hs_object_id": "number",
}
READ_ONLY = frozenset({"lastmodifieddate", "hs_object_id"})
DEFAULT_PROPERTIES = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)
UNIQUE_PROPERTIES = frozenset({"email", "hs_object_id"})
QUERY_PROPERTIES = ("firstname", "lastname", "email", "phone", "company", "website")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MILLIS = re.compile(r"^-?\d+$")


class PropertyError(ValueError):
    """One invalid property value, in the shape of an ``errors[]`` entry."""

    def __init__(self, name: str, code: str, text: str) -> None:
        super().__init__(text)
        self.detail = {"message": text, "code": code, "context": {"propertyName": [name]}}


class ContactSchema:
    def __init__(self, custom: Mapping[str, str]) -> None:
        self.types = {**STANDARD_PROPERTIES, **{k.lower(): v for k, v in custom.items()}}

    def type_of(self, name: str) -> str | None:
        return self.types.get(name)

    def normalize(self, name: str, raw: Any) -> str:
        """The stored form of ``raw`` for property ``name``; raises PropertyError."""
        kind = self.types.get(name)
        if kind is None:
            raise PropertyError(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
        if name in READ_ONLY:
            raise PropertyError(name, "READ_ONLY_VALUE", f'Property "{name}" is read-only')
        text = _scalar_text(name, raw)
        if text == "":
            return ""
        if name == "email" and not _EMAIL.match(text):
            raise PropertyError(name, "INVALID_EMAIL", f"Email address {text} is invalid")
        return _typed(name, kind, text)


def _scalar_text(name: str, raw: Any) -> str:
    # JSON scalars are coerced to strings the way HubSpot's deserializer does.
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str | int | float):
        return str(raw)
    raise PropertyError(name, "INVALID_VALUE", f'Property "{name}" must be a string value')


def _typed(name: str, kind: str, text: str) -> str:
    if kind == "number":
        try:
            float(text)
        except ValueError:
            raise PropertyError(name, "INVALID_FLOAT", f"{text} is not a valid number") from None
        return text
    if kind == "bool":
        if text.lower() not in {"true", "false"}:
            raise PropertyError(name, "INVALID_BOOLEAN", f"{text} is not a valid boolean")
        return text.lower()
    if kind == "date":
        return _date(name, text)
    if kind == "datetime":
        moment = to_datetime(text)
        if moment is None:
            raise PropertyError(name, "INVALID_DATE", f"{text} is not a valid date-time")
        return iso_millis(moment)
    return text


def _date(name: str, text: str) -> str:
    moment = to_datetime(text)
    if moment is None or moment.astimezone(UTC).time() != datetime.min.time():
        raise PropertyError(name, "INVALID_DATE", f"{text} is not a valid date at midnight UTC")
    return moment.astimezone(UTC).date().isoformat()


def to_datetime(text: str) -> datetime | None:
    """Unix milliseconds or ISO 8601 text as a datetime."""
    if _MILLIS.match(text.strip()):
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    return parse_datetime(text)


def comparable(kind: str | None, text: str) -> float | str | None:
    """A value ordered the way search orders ``kind``; None when it cannot be read."""
    if kind in {"date", "datetime"}:
        moment = to_datetime(text)
        return float(epoch_millis(moment)) if moment else None
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return None
    return text.lower()
