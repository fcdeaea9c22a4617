"""What a Klaviyo account holds (profiles, events, bulk import jobs), its settings, the
JSON:API error documents, and the checks Klaviyo applies to a profile resource."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from renkei.clock import Clock

DEFAULT_API_KEY = "pk_sandbox_00000000000000000000000000"
REVISION = "2026-07-15"

# Burst (per second) and steady (per minute) calls per endpoint, from the OpenAPI files.
RATE_LIMITS: dict[str, tuple[int, int]] = {
    "profile_import": (75, 750),
    "create_event": (350, 3500),
    "bulk_import": (10, 150),
    "bulk_import_status": (10, 150),
    "get_profiles": (75, 750),
    "data_privacy_deletion": (3, 60),
}
PROFILE_STRINGS = (
    "email",
    "phone_number",
    "external_id",
    "_kx",
    "anonymous_id",
    "first_name",
    "last_name",
    "organization",
    "locale",
    "title",
    "image",
)
STORED = tuple(name for name in PROFILE_STRINGS if name not in ("_kx", "anonymous_id"))
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True)
class KlaviyoSandboxConfig:
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    # endpoint -> (burst per second, steady per minute); unnamed endpoints keep Klaviyo's
    rate_limits: Mapping[str, tuple[int, int]] = field(default_factory=lambda: dict(RATE_LIMITS))
    burst_window_seconds: float = 1.0
    steady_window_seconds: float = 60.0
    page_size_max: int = 100
    bulk_max_profiles: int = 10_000
    bulk_max_bytes: int = 5 * 1024 * 1024
    # How many status reads a bulk import job stays "processing" (0: complete at once).
    bulk_job_polls: int = 0
    import_errors_page_size: int = 20
    seed_profiles: int = 0


class KlaviyoError(Exception):
    def __init__(
        self, status: int, code: str, title: str, detail: str, pointer: str | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail, self.pointer = (
            status,
            code,
            title,
            detail,
            pointer,
        )

    def document(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "source": {"pointer": self.pointer or "/data/"},
        }
        return {"errors": [error]}


def invalid(detail: str, pointer: str | None = None) -> KlaviyoError:
    return KlaviyoError(400, "invalid", "Invalid input.", detail, pointer)


def iso(moment: datetime) -> str:
    return moment.isoformat()


@dataclass
class Profile:
    id: str
    attributes: dict[str, Any]
    created: datetime
    updated: datetime
    last_event_date: datetime | None = None

    def to_json(self, base_url: str, fields: set[str] | None = None) -> dict[str, Any]:
        attributes: dict[str, Any] = {name: self.attributes.get(name) for name in STORED}
        attributes |= {
            "created": iso(self.created),
            "updated": iso(self.updated),
            "last_event_date": iso(self.last_event_date) if self.last_event_date else None,
            "location": self.attributes.get("location") or {},
            "properties": self.attributes.get("properties") or {},
        }
        if fields:
            attributes = {k: v for k, v in attributes.items() if k in fields}
        return {
            "type": "profile",
            "id": self.id,
            "attributes": attributes,
            "links": {"self": f"{base_url}/api/profiles/{self.id}/"},
        }


@dataclass(frozen=True)
class Event:
    profile_id: str
    metric: str
    properties: dict[str, Any]
    time: str | None
    value: float | None
    unique_id: str | None


@dataclass
class BulkJob:
    id: str
    created_at: datetime
    total: int
    valid: list[dict[str, Any]]
    errors: list[tuple[int, KlaviyoError, Any]]
    polls_left: int
    status: str = "queued"
    completed_at: datetime | None = None

    def to_json(self, base_url: str) -> dict[str, Any]:
        done = self.status == "complete"
        return {
            "type": "profile-bulk-import-job",
            "id": self.id,
            "attributes": {
                "status": self.status,
                "created_at": iso(self.created_at),
                "total_count": self.total,
                "completed_count": len(self.valid) if done else 0,
                "failed_count": len(self.errors) if done else 0,
                "completed_at": iso(self.completed_at) if self.completed_at else None,
                "expires_at": iso(self.created_at + timedelta(days=7)),
                "started_at": iso(self.created_at),
            },
            "links": {"self": f"{base_url}/api/profile-bulk-import-jobs/{self.id}/"},
        }


class KlaviyoState:
    def __init__(self, config: KlaviyoSandboxConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.profiles: dict[str, Profile] = {}
        self.events: list[Event] = []
        self.duplicate_events = 0
        self.deletion_jobs = 0
        self.jobs: dict[str, BulkJob] = {}
        self._ids = itertools.count(1)
        self._seen_events: set[tuple[str, str, str]] = set()

    def new_id(self, prefix: str = "01KSBX") -> str:
        return f"{prefix}{next(self._ids):020d}"

    def find(self, resource: Mapping[str, Any]) -> Profile | None:
        if resource.get("id"):
            return self.profiles.get(str(resource["id"]))
        attributes = resource.get("attributes") or {}
        for key in ("email", "phone_number", "external_id"):
            value = attributes.get(key)
            if value:
                for profile in self.profiles.values():
                    if profile.attributes.get(key) == value:
                        return profile
        return None

    def delete_matching(self, key: str, value: str) -> int:
        """A data-privacy deletion: every profile whose ``key`` is ``value`` (email
        case-insensitive), with its events, is erased. Returns how many went."""
        wanted = value.strip().lower() if key == "email" else value
        gone = [
            p.id
            for p in self.profiles.values()
            if (p.id if key == "id" else str(p.attributes.get(key) or "")).strip().lower()
            == wanted.lower()
        ]
        for profile_id in gone:
            del self.profiles[profile_id]
        self.events = [e for e in self.events if e.profile_id not in gone]
        self.deletion_jobs += 1
        return len(gone)

    def upsert(self, resource: Mapping[str, Any]) -> tuple[Profile, bool]:
        """Create or update the profile ``resource`` names (validated already)."""
        now = self.clock.now()
        attributes = dict(resource.get("attributes") or {})
        attributes.pop("_kx", None)
        attributes.pop("anonymous_id", None)
        attributes.pop("meta", None)
        existing = self.find(resource)
        if existing is None:
            if resource.get("id"):
                raise KlaviyoError(404, "not_found", "Not found.", "Profile not found.", "/data/id")
            values = {k: v for k, v in attributes.items() if v is not None}
            profile = Profile(self.new_id(), values, now, now)
            self.profiles[profile.id] = profile
            return profile, True
        before = dict(existing.attributes)
        for key, value in attributes.items():
            if key == "properties" and isinstance(value, dict):
                merged = {**(existing.attributes.get("properties") or {}), **value}
                existing.attributes["properties"] = merged
            elif value is None:
                existing.attributes.pop(key, None)
            else:
                existing.attributes[key] = value
        if existing.attributes != before:
            existing.updated = now
        return existing, False

    def record_event(self, event: Event) -> bool:
        """Store ``event`` unless its unique_id was seen for this profile and metric."""
        if event.unique_id is not None:
            key = (event.profile_id, event.metric, event.unique_id)
            if key in self._seen_events:
                self.duplicate_events += 1
                return False
            self._seen_events.add(key)
        self.events.append(event)
        return True

    def seed(self, count: int, *, spacing_seconds: float = 1.0) -> list[Profile]:
        now = self.clock.now()
        start = len(self.profiles) + 1
        seeded = []
        for i, n in enumerate(range(start, start + count)):
            at = now - timedelta(seconds=spacing_seconds * (count - 1 - i))
            profile = Profile(
                self.new_id(),
                {"email": f"profile{n}@example.com", "first_name": "Profile", "last_name": str(n)},
                at,
                at,
            )
            self.profiles[profile.id] = profile
            seeded.append(profile)
        return seeded


def check_profile(resource: Any, pointer: str, *, event: bool = False) -> dict[str, Any]:
    """The profile resource object at ``pointer``, or the KlaviyoError Klaviyo answers."""
    if not isinstance(resource, dict):
        raise invalid("A profile resource object is required.", pointer)
    if resource.get("type") != "profile":
        raise KlaviyoError(
            409, "conflict", "Conflict.", "The resource type must be 'profile'.", f"{pointer}/type"
        )
    attributes = resource.get("attributes")
    if not isinstance(attributes, dict):
        raise invalid("'attributes' is required.", f"{pointer}/attributes")
    for name in PROFILE_STRINGS:
        value = attributes.get(name)
        if value is not None and not isinstance(value, str):
            raise invalid(f"'{name}' must be a string.", f"{pointer}/attributes/{name}")
    for name in ("location", "properties"):
        if attributes.get(name) is not None and not isinstance(attributes[name], dict):
            raise invalid(f"'{name}' must be an object.", f"{pointer}/attributes/{name}")
    identifiers = ["email", "phone_number", "external_id"] + (
        ["_kx", "anonymous_id"] if event else []
    )
    if not resource.get("id") and not any(attributes.get(name) for name in identifiers):
        raise invalid(
            "One of 'email', 'phone_number' or 'external_id' is required to identify a profile.",
            f"{pointer}/attributes",
        )
    email = attributes.get("email")
    if email and not _EMAIL.match(email):
        raise invalid("Invalid email address", f"{pointer}/attributes/email")
    phone = attributes.get("phone_number")
    if phone and not _PHONE.match(phone):
        raise invalid(
            "Invalid phone number format (Example of a valid format: +12345678901)",
            f"{pointer}/attributes/phone_number",
        )
    return resource
