"""What a Marketo instance holds: leads and their activity log, plus what the sandbox
observed of its clients (counters and violations)."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from renkei.clock import Clock
from renkei.sandbox._common import Counters, Violation, ViolationKind, iso_seconds
from renkei.sandbox.marketo.activity_types import (
    CHANGE_DATA_VALUE,
    NEW_LEAD,
    STANDARD_ACTIVITY_TYPES,
    VISIT_WEBPAGE,
)
from renkei.sandbox.marketo.config import ActivityType, LeadField, MarketoSandboxConfig
from renkei.sandbox.marketo.fields import LeadSchema

API_SOURCE = "Web service API"
_DERIVED = frozenset({"createdAt", "updatedAt"})  # computed by Lead.get, not stored


@dataclass
class Lead:
    id: int
    values: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def get(self, name: str) -> Any:
        if name == "id":
            return self.id
        if name == "createdAt":
            return iso_seconds(self.created_at)
        if name == "updatedAt":
            return iso_seconds(self.updated_at)
        return self.values.get(name)


@dataclass(frozen=True)
class FieldChange:
    field_id: int
    name: str
    new_value: Any
    old_value: Any


@dataclass
class Activity:
    id: int
    lead_id: int
    activity_date: datetime
    activity_type_id: int
    primary_attribute_value: str | None = None
    primary_attribute_value_id: int | None = None
    attributes: list[dict[str, Any]] = field(default_factory=list)
    change: FieldChange | None = None


class MarketoState:
    def __init__(self, config: MarketoSandboxConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.schema = LeadSchema(config.custom_fields)
        self.activity_types: dict[int, ActivityType] = {
            t.id: t for t in STANDARD_ACTIVITY_TYPES + config.custom_activity_types
        }
        self.created_at = clock.now()
        self.leads: dict[int, Lead] = {}
        self.deleted_lead_ids: list[int] = []
        # Munchkin cookies (``_mkto_trk`` values) by the lead they are associated with: a
        # lead may hold several (one per browser), a cookie belongs to one lead.
        self.cookies: dict[str, int] = {}
        # Lookups by field value, built on a field's first lookup and kept up to date by
        # create_lead/update_lead: {field name: {match key: {lead id: lead}}}.
        self._index: dict[str, dict[Any, dict[int, Lead]]] = {}
        self.activities: list[Activity] = []
        self.counters = Counters()
        self.violations: list[Violation] = []
        self._lead_ids = itertools.count(1)
        self._activity_ids = itertools.count(1)
        self._request_ids = itertools.count(0x1000)

    def request_id(self) -> str:
        return f"{next(self._request_ids):x}#{int(self.clock.time() * 1000):x}"

    def violate(self, kind: ViolationKind, endpoint: str, detail: str) -> None:
        self.violations.append(Violation(kind, endpoint, detail, self.clock.now()))

    # --- leads -------------------------------------------------------------------------

    def find_leads(self, field: LeadField, value: Any) -> list[Lead]:
        """The leads whose ``field`` matches ``value`` (case-insensitive text), by id."""
        wanted = _match_key(value)
        if field.name == "cookies":
            owner = self.leads.get(self.cookies.get(str(value).lower(), 0))
            return [] if owner is None else [owner]
        if field.name == "id":
            lead = self.leads.get(wanted) if isinstance(wanted, int) else None
            return [] if lead is None else [lead]
        if field.name in _DERIVED:
            found = [
                lead for lead in self.leads.values() if _match_key(lead.get(field.name)) == wanted
            ]
            return sorted(found, key=lambda lead: lead.id)
        index = self._index.get(field.name)
        if index is None:
            index = self._index[field.name] = {}
            for lead in self.leads.values():
                index.setdefault(_match_key(lead.values.get(field.name)), {})[lead.id] = lead
        try:
            matches = index.get(wanted)
        except TypeError:  # an unhashable value matches nothing a lead holds
            return []
        return sorted(matches.values(), key=lambda lead: lead.id) if matches else []

    def _reindex(self, lead: Lead, name: str, old: Any) -> None:
        index = self._index.get(name)
        if index is None:
            return
        old_key = _match_key(old)
        with contextlib.suppress(KeyError, TypeError):
            del index[old_key][lead.id]
            if not index[old_key]:
                del index[old_key]
        with contextlib.suppress(TypeError):
            index.setdefault(_match_key(lead.values.get(name)), {})[lead.id] = lead

    def create_lead(self, values: dict[str, Any], *, log: bool = True) -> Lead:
        now = self.clock.now()
        lead = Lead(next(self._lead_ids), dict(values), now, now)
        self.leads[lead.id] = lead
        for name in self._index:
            self._reindex(lead, name, None)
        if log:
            self.add_activity(
                lead.id,
                NEW_LEAD,
                primary_attribute_value_id=lead.id,
                attributes=[{"name": "Source Type", "value": API_SOURCE}],
            )
        return lead

    def associate(self, lead: Lead, cookie: str) -> None:
        """Associate a Munchkin cookie (and its web activity) with ``lead`` (Associate
        Lead); a cookie held by another lead moves to this one."""
        self.cookies[cookie.lower()] = lead.id

    def delete_lead(self, lead_id: int) -> bool:
        """Remove a lead, its index entries and its activities (Delete Leads); False when
        there is no such lead."""
        lead = self.leads.pop(lead_id, None)
        if lead is None:
            return False
        for index in self._index.values():
            for matches in index.values():
                matches.pop(lead_id, None)
        self.activities = [a for a in self.activities if a.lead_id != lead_id]
        self.cookies = {c: owner for c, owner in self.cookies.items() if owner != lead_id}
        self.deleted_lead_ids.append(lead_id)
        return True

    def update_lead(self, lead: Lead, values: dict[str, Any]) -> None:
        """Apply ``values``, logging a Change Data Value activity per changed field."""
        changed = False
        for name, new in values.items():
            old = lead.values.get(name)
            if old == new:
                continue
            lead.values[name] = new
            self._reindex(lead, name, old)
            changed = True
            self._log_change(lead, name, new, old)
        if changed:
            lead.updated_at = self.clock.now()

    def _log_change(self, lead: Lead, name: str, new: Any, old: Any) -> None:
        lead_field = self.schema.get(name)
        assert lead_field is not None
        field_id = self.schema.field_id(lead_field)
        self.add_activity(
            lead.id,
            CHANGE_DATA_VALUE,
            primary_attribute_value=lead_field.label,
            primary_attribute_value_id=field_id,
            attributes=[
                {"name": "New Value", "value": new},
                {"name": "Old Value", "value": old},
                {"name": "Reason", "value": API_SOURCE},
                {"name": "Source", "value": API_SOURCE},
            ],
            change=FieldChange(field_id, lead_field.name, new, old),
        )

    # --- activities --------------------------------------------------------------------

    def add_activity(
        self,
        lead_id: int,
        activity_type_id: int,
        *,
        activity_date: datetime | None = None,
        primary_attribute_value: str | None = None,
        primary_attribute_value_id: int | None = None,
        attributes: list[dict[str, Any]] | None = None,
        change: FieldChange | None = None,
    ) -> Activity:
        activity = Activity(
            id=next(self._activity_ids),
            lead_id=lead_id,
            activity_date=activity_date or self.clock.now(),
            activity_type_id=activity_type_id,
            primary_attribute_value=primary_attribute_value,
            primary_attribute_value_id=primary_attribute_value_id,
            attributes=attributes or [],
            change=change,
        )
        self.activities.append(activity)
        return activity

    # --- seeding -----------------------------------------------------------------------

    def seed_leads(self, count: int, *, log: bool = False) -> list[Lead]:
        """``count`` leads; with ``log`` each one's creation is in the activity log (New
        Lead), as for a lead created by a form or the API, so lead changes read it."""
        first = len(self.leads) + 1
        return [
            self.create_lead(
                {"email": f"lead{n}@example.com", "firstName": "Lead", "lastName": str(n)},
                log=log,
            )
            for n in range(first, first + count)
        ]

    def seed_activities(
        self,
        count: int,
        *,
        activity_type_id: int = VISIT_WEBPAGE,
        start: datetime | None = None,
        spacing_seconds: float = 1.0,
    ) -> list[Activity]:
        """``count`` activities spread round-robin over the existing leads, one every
        ``spacing_seconds`` from ``start`` (default: so that the last is one step ago)."""
        lead_ids = sorted(self.leads) or [lead.id for lead in self.seed_leads(1)]
        begin = start or self.clock.now() - timedelta(seconds=spacing_seconds * count)
        return [
            self.add_activity(
                lead_ids[n % len(lead_ids)],
                activity_type_id,
                activity_date=begin + timedelta(seconds=spacing_seconds * n),
                primary_attribute_value=f"/page/{n}",
                primary_attribute_value_id=n + 1,
                attributes=[{"name": "Webpage URL", "value": f"/page/{n}"}],
            )
            for n in range(count)
        ]


def _match_key(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower()
    return value
