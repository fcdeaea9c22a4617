"""What a HubSpot account holds (contacts, custom event completions) and what the
sandbox observed of its clients (counters, violations)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from renkei.clock import Clock
from renkei.sandbox._common import Counters, Violation, ViolationKind, iso_millis
from renkei.sandbox.hubspot.config import HubSpotSandboxConfig
from renkei.sandbox.hubspot.properties import ContactSchema


@dataclass
class Contact:
    id: int
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime
    archived: bool = False

    def to_json(self, names: tuple[str, ...], schema: ContactSchema) -> dict[str, Any]:
        # Requested properties that do not exist are ignored; existing but empty are null.
        values = {
            name: self.properties.get(name) or None
            for name in names
            if schema.type_of(name) is not None
        }
        return {
            "id": str(self.id),
            "properties": values,
            "createdAt": iso_millis(self.created_at),
            "updatedAt": iso_millis(self.updated_at),
            "archived": self.archived,
        }


@dataclass(frozen=True)
class EventCompletion:
    event_name: str
    properties: dict[str, str]
    occurred_at: datetime
    email: str | None = None
    utk: str | None = None
    object_id: str | None = None
    uuid: str | None = None


@dataclass
class HubSpotState:
    config: HubSpotSandboxConfig
    clock: Clock
    schema: ContactSchema = field(init=False)
    contacts: dict[int, Contact] = field(default_factory=dict)
    events: list[EventCompletion] = field(default_factory=list)
    duplicate_events: int = 0
    gdpr_deleted: int = 0
    counters: Counters = field(default_factory=Counters)
    violations: list[Violation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.schema = ContactSchema(self.config.custom_properties)
        self._ids = itertools.count(1)

    def violate(self, kind: ViolationKind, endpoint: str, detail: str) -> None:
        self.violations.append(Violation(kind, endpoint, detail, self.clock.now()))

    def find(self, id_property: str, value: str) -> Contact | None:
        if id_property == "hs_object_id":
            contact = self.contacts.get(int(value)) if value.isdigit() else None
            return contact if contact and not contact.archived else None
        wanted = value.strip().lower()
        for contact in self.contacts.values():
            if not contact.archived and contact.properties.get(id_property, "").lower() == wanted:
                return contact
        return None

    def purge(self, contact: Contact) -> None:
        """A GDPR delete: the contact and the event completions recorded for it."""
        del self.contacts[contact.id]
        email = contact.properties.get("email", "").lower()
        self.events = [
            e
            for e in self.events
            if e.object_id != str(contact.id) and (not email or (e.email or "").lower() != email)
        ]
        self.gdpr_deleted += 1

    def create(self, properties: dict[str, str], at: datetime | None = None) -> Contact:
        now = at or self.clock.now()
        contact_id = next(self._ids)
        stamped = {
            **{k: v for k, v in properties.items() if v != ""},
            "createdate": properties.get("createdate") or iso_millis(now),
            "lastmodifieddate": iso_millis(now),
            "hs_object_id": str(contact_id),
        }
        contact = Contact(contact_id, stamped, now, now)
        self.contacts[contact_id] = contact
        return contact

    def update(self, contact: Contact, properties: dict[str, str]) -> bool:
        """Apply ``properties`` (empty string clears); the last-modified date moves only
        when a value changes."""
        changed = False
        for name, value in properties.items():
            if contact.properties.get(name, "") != value:
                changed = True
                if value == "":
                    contact.properties.pop(name, None)
                else:
                    contact.properties[name] = value
        if changed:
            now = self.clock.now()
            contact.updated_at = now
            contact.properties["lastmodifieddate"] = iso_millis(now)
        return changed

    def seed_contacts(self, count: int, *, spacing_seconds: float = 0.0) -> list[Contact]:
        """``count`` contacts; with a spacing their create/modify dates step up to now."""
        first = len(self.contacts) + 1
        now = self.clock.now()
        return [
            self.create(
                {"email": f"contact{n}@example.com", "firstname": "Contact", "lastname": str(n)},
                at=now - timedelta(seconds=spacing_seconds * (count - 1 - i)),
            )
            for i, n in enumerate(range(first, first + count))
        ]
