"""What a Mailchimp account holds (audiences, members, member events), its settings, and
Mailchimp's error documents (``application/problem+json``)."""

from __future__ import annotations

import hashlib
import itertools
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from renkei.clock import Clock

DEFAULT_API_KEY = "0123456789abcdef0123456789abcdef-us21"
DEFAULT_LIST_ID = "a1b2c3d4e5"
STATUSES = frozenset({"subscribed", "unsubscribed", "cleaned", "pending", "transactional"})
ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_EVENT_NAME = re.compile(r"^[A-Za-z0-9_-]{2,30}$")


@dataclass(frozen=True)
class MailchimpSandboxConfig:
    api_key: str = DEFAULT_API_KEY
    lists: tuple[str, ...] = (DEFAULT_LIST_ID,)
    max_connections: int = 10
    batch_limit: int = 500
    page_limit: int = 1000
    merge_fields: tuple[str, ...] = ("FNAME", "LNAME", "PHONE", "BIRTHDAY", "ADDRESS")
    required_merge_fields: tuple[str, ...] = ()
    seed_members: int = 0


class MailchimpError(Exception):
    """An error answer: ``status`` with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": ERRORS_DOC,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": str(uuid.uuid4()),
        }
        if self.errors:
            body["errors"] = self.errors
        return body


def not_found() -> MailchimpError:
    return MailchimpError(404, "Resource Not Found", "The requested resource could not be found.")


def invalid(detail: str, errors: list[dict[str, str]] | None = None) -> MailchimpError:
    return MailchimpError(400, "Invalid Resource", detail, errors)


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def timestamp(moment: datetime) -> str:
    """``2019-10-26T15:27:03+00:00``, Mailchimp's format."""
    return moment.replace(microsecond=0).isoformat()


@dataclass
class Member:
    list_id: str
    web_id: int
    email_address: str
    status: str
    merge_fields: dict[str, Any]
    timestamp_opt: datetime
    last_changed: datetime
    tags: dict[str, int] = field(default_factory=dict)  # name -> tag id
    language: str = ""
    vip: bool = False
    email_type: str = "html"
    interests: dict[str, bool] = field(default_factory=dict)
    location: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return subscriber_hash(self.email_address)

    def to_json(self) -> dict[str, Any]:
        first, last = self.merge_fields.get("FNAME", ""), self.merge_fields.get("LNAME", "")
        return {
            "id": self.id,
            "email_address": self.email_address,
            "unique_email_id": self.id[:10],
            "contact_id": self.id[:24],
            "full_name": f"{first} {last}".strip(),
            "web_id": self.web_id,
            "email_type": self.email_type,
            "status": self.status,
            "merge_fields": dict(self.merge_fields),
            "interests": dict(self.interests),
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
            "ip_signup": "",
            "timestamp_signup": "",
            "ip_opt": "",
            "timestamp_opt": timestamp(self.timestamp_opt),
            "member_rating": 2,
            "last_changed": timestamp(self.last_changed),
            "language": self.language,
            "vip": self.vip,
            "email_client": "",
            "location": {
                "latitude": 0,
                "longitude": 0,
                "country_code": "",
                "timezone": "",
                **self.location,
            },
            "source": "API - Generic",
            "tags_count": len(self.tags),
            "tags": [{"id": tag_id, "name": name} for name, tag_id in self.tags.items()],
            "list_id": self.list_id,
            "_links": [],
        }


@dataclass(frozen=True)
class MemberEvent:
    list_id: str
    email_address: str
    name: str
    properties: dict[str, str]
    occurred_at: str | None
    is_syncing: bool


class MailchimpState:
    def __init__(self, config: MailchimpSandboxConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.lists: dict[str, dict[str, Member]] = {list_id: {} for list_id in config.lists}
        self.events: list[MemberEvent] = []
        self.permanently_deleted = 0
        self._web_ids = itertools.count(100001)
        self._tag_ids = itertools.count(1001)
        self._tag_names: dict[str, int] = {}

    def members(self, list_id: str) -> dict[str, Member]:
        if list_id not in self.lists:
            raise not_found()
        return self.lists[list_id]

    def member(self, list_id: str, hash_: str) -> Member:
        member = self.members(list_id).get(hash_.lower())
        if member is None:
            raise not_found()
        return member

    def delete_permanent(self, list_id: str, hash_: str) -> None:
        """Permanently delete a member and its events (404 when there is none); the
        address cannot be re-imported in Mailchimp, which the sandbox does not model."""
        member = self.member(list_id, hash_)
        del self.lists[list_id][hash_.lower()]
        email = member.email_address.lower()
        self.events = [
            e
            for e in self.events
            if not (e.list_id == list_id and e.email_address.lower() == email)
        ]
        self.permanently_deleted += 1

    def upsert(
        self,
        list_id: str,
        body: Mapping[str, Any],
        *,
        status_if_new: str | None,
        update_existing: bool = True,
    ) -> tuple[Member, bool]:
        """Create or update the member ``body`` describes; ``(member, created)``."""
        email = _valid_email(body.get("email_address"))
        members = self.members(list_id)
        existing = members.get(subscriber_hash(email))
        status = body.get("status")
        if status is not None and status not in STATUSES:
            raise invalid(
                "The resource submitted could not be validated.",
                [{"field": "status", "message": "Invalid value for status"}],
            )
        merge_fields = _merge_fields(self.config, body.get("merge_fields"), new=existing is None)
        now = self.clock.now()
        if existing is None:
            status = status or status_if_new
            if status not in STATUSES:
                raise invalid(
                    "The resource submitted could not be validated. For field-specific details, "
                    "see the 'errors' array.",
                    [
                        {
                            "field": "status_if_new",
                            "message": "status_if_new is required for new members",
                        }
                    ],
                )
            member = Member(list_id, next(self._web_ids), email, status, merge_fields, now, now)
            self._set_fields(member, body)
            members[member.id] = member
            return member, True
        if not update_existing:
            raise invalid(
                f"{email} is already a list member. Use PUT to insert or update list members."
            )
        before = existing.to_json()
        if status is not None:
            existing.status = status
        existing.merge_fields.update(merge_fields)
        self._set_fields(existing, body)
        if existing.to_json() != before:
            existing.last_changed = now
        return existing, False

    def set_tags(self, member: Member, tags: Any, *, replace: bool = False) -> None:
        if replace:
            member.tags.clear()
        for tag in tags:
            if isinstance(tag, str):
                name, active = tag, True
            elif isinstance(tag, dict) and isinstance(tag.get("name"), str):
                if tag.get("status") not in ("active", "inactive"):
                    raise invalid(
                        "The resource submitted could not be validated.",
                        [{"field": "tags.status", "message": "status must be active or inactive"}],
                    )
                name, active = tag["name"], tag["status"] == "active"
            else:
                raise invalid("Tags must be names or {name, status} objects.")
            if active:
                member.tags[name] = self._tag_names.setdefault(name, next(self._tag_ids))
            else:
                member.tags.pop(name, None)

    def add_event(self, member: Member, body: Mapping[str, Any]) -> MemberEvent:
        name = body.get("name")
        if not isinstance(name, str) or not _EVENT_NAME.match(name):
            raise invalid(
                "The resource submitted could not be validated.",
                [{"field": "name", "message": "Event names are 2-30 letters, digits, - or _"}],
            )
        properties = body.get("properties") or {}
        if not isinstance(properties, dict) or not all(
            isinstance(v, str) for v in properties.values()
        ):
            raise invalid(
                "The resource submitted could not be validated.",
                [{"field": "properties", "message": "Property values must be strings"}],
            )
        event = MemberEvent(
            member.list_id,
            member.email_address,
            name,
            dict(properties),
            body.get("occurred_at"),
            bool(body.get("is_syncing")),
        )
        self.events.append(event)
        return event

    def seed(self, list_id: str, count: int, *, spacing_seconds: float = 1.0) -> list[Member]:
        """``count`` subscribed members whose last change steps up to now."""
        members = self.members(list_id)
        now = self.clock.now()
        seeded = []
        start = len(members) + 1
        for i, n in enumerate(range(start, start + count)):
            at = now - timedelta(seconds=spacing_seconds * (count - 1 - i))
            member = Member(
                list_id,
                next(self._web_ids),
                f"member{n}@example.com",
                "subscribed",
                {"FNAME": "Member", "LNAME": str(n)},
                at,
                at,
            )
            members[member.id] = member
            seeded.append(member)
        return seeded

    def _set_fields(self, member: Member, body: Mapping[str, Any]) -> None:
        for name in ("language", "vip", "email_type"):
            if name in body:
                setattr(member, name, body[name])
        if isinstance(body.get("interests"), dict):
            member.interests.update(body["interests"])
        if isinstance(body.get("location"), dict):
            member.location.update(body["location"])


def _valid_email(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(
            "The resource submitted could not be validated.",
            [{"field": "email_address", "message": "This value should not be blank."}],
        )
    if not _EMAIL.match(value.strip()):
        raise invalid(f"{value} looks fake or invalid, please enter a real email address.")
    return value.strip()


def _merge_fields(config: MailchimpSandboxConfig, raw: Any, *, new: bool) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise invalid(
            "Your merge fields were invalid.",
            [{"field": "merge_fields", "message": "must be an object"}],
        )
    missing = [name for name in config.required_merge_fields if new and not raw.get(name)]
    if missing:
        raise invalid(
            "Your merge fields were invalid.",
            [{"field": name, "message": "Please enter a value"} for name in missing],
        )
    return {k: v for k, v in raw.items() if k in config.merge_fields}
