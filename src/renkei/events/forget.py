"""A person forgotten by the event side: profiles, identities, events, raw webhook requests.

:func:`find_person` gathers what identifies a person (their profile, the profiles merged
into it, every identity those hold); :func:`forget_person` removes it in the caller's
transaction. Events are deleted, or with ``mode="scrub"`` kept without their personal
fields (identity columns emptied, traits and personal keys dropped from the document,
any string quoting one of the person's identities replaced): counts by type survive, the
person does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.profiles import Key, normalize_identity
from renkei.store.json_search import holds_string, holds_string_any_case
from renkei.store.tables.core import events
from renkei.store.tables.ingest import identities, profiles, webhook_requests

__all__ = [
    "EVENT_MODES",
    "Forgotten",
    "Person",
    "find_person",
    "forget_person",
    "person_events",
    "scrub_document",
    "with_email_holders",
]

EventMode = Literal["delete", "scrub"]
EVENT_MODES = ("delete", "scrub")
SCRUBBED = "[deleted]"
# Keys of a Segment message (and common trait names) that say who someone is.
PERSONAL_KEYS = frozenset(
    {
        "userId",
        "anonymousId",
        "previousId",
        "user_id",
        "anonymous_id",
        "email",
        "traits",
        "ip",
        "phone",
        "name",
        "firstName",
        "lastName",
        "first_name",
        "last_name",
        "address",
        "birthday",
    }
)
_BULK = 500
_REQUEST_CHUNK = 50
# At most this many profiles holding one email as a trait are taken along (a bound on one
# request; an address shared by more than this is not one person's).
MAX_EMAIL_HOLDERS = 100


@dataclass(slots=True)
class Person:
    """Who is being forgotten: the profile (and those merged into it) and every identity."""

    profile_id: str | None
    profile_ids: list[str] = field(default_factory=list)
    keys: list[Key] = field(default_factory=list)

    def values(self, kind: str) -> list[str]:
        return [value for k, value in self.keys if k == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "profile_ids": self.profile_ids,
            "keys": [list(key) for key in self.keys],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Person:
        return cls(
            raw.get("profile_id"),
            list(raw.get("profile_ids") or []),
            [(str(k), str(v)) for k, v in raw.get("keys") or []],
        )


@dataclass(slots=True)
class Forgotten:
    profiles: int = 0
    identities: int = 0
    events: int = 0
    webhook_requests: int = 0
    event_ids: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "profiles": self.profiles,
            "identities": self.identities,
            "events": self.events,
            "webhook_requests": self.webhook_requests,
        }


async def find_person(
    connection: AsyncConnection,
    *,
    profile_id: str | None = None,
    kind: str | None = None,
    value: str | None = None,
) -> Person | None:
    """The person holding ``profile_id``, or the identity ``(kind, value)``. None when
    Renkei holds no profile for them; an identity with no profile still makes a person
    (events may carry it without a profile having been built)."""
    start: str | None = profile_id
    given: list[Key] = []
    if kind is not None and value is not None:
        given.append(normalize_identity(kind, value))
        start = (
            await connection.execute(
                select(identities.c.profile_id).where(
                    identities.c.kind == given[0][0], identities.c.value == given[0][1]
                )
            )
        ).scalar()
    if start is not None:
        row = (await connection.execute(select(profiles).where(profiles.c.id == start))).first()
        if row is not None and row.merged_into is not None:
            start = row.merged_into
        elif row is None:
            start = None
    if start is None:
        return Person(None, [], given) if given else None
    ids = [start]
    frontier = [start]
    while frontier:  # every profile merged into this one, however deep
        merged = [
            r.id
            for r in await connection.execute(
                select(profiles.c.id).where(profiles.c.merged_into.in_(frontier))
            )
        ]
        frontier = [m for m in merged if m not in ids]
        ids += frontier
    keys: list[Key] = []
    for start_at in range(0, len(ids), _BULK):
        rows = await connection.execute(
            select(identities.c.kind, identities.c.value).where(
                identities.c.profile_id.in_(ids[start_at : start_at + _BULK])
            )
        )
        keys += [(r.kind, r.value) for r in rows]
    for key in given:
        if key not in keys:
            keys.append(key)
    return Person(start, ids, keys)


async def with_email_holders(connection: AsyncConnection, person: Person) -> Person:
    """The person, with every profile whose ``traits.email`` is one of their emails (any
    case) and what those profiles hold. Such a profile exists when the email identity
    already belonged to another profile as it was built (``identify {userId: u-42,
    traits: {email}}`` after a sync made the email's profile): it is the same person.
    One scan of ``profiles`` per email (no index reaches into traits); at most
    :data:`MAX_EMAIL_HOLDERS` profiles per email."""
    ids, keys = list(person.profile_ids), list(person.keys)
    for email in person.values("email"):
        rows = await connection.execute(
            select(profiles.c.id, profiles.c.traits)
            .where(
                profiles.c.merged_into.is_(None), holds_string_any_case(profiles.c.traits, email)
            )
            .order_by(profiles.c.id)
            .limit(MAX_EMAIL_HOLDERS)
        )
        for row in rows:
            if row.id in ids or _trait_email(row.traits) != email:
                continue
            holder = await find_person(connection, profile_id=row.id)
            if holder is None:
                continue
            ids += [i for i in holder.profile_ids if i not in ids]
            keys += [k for k in holder.keys if k not in keys]
    if len(ids) == len(person.profile_ids):
        return person
    return Person(person.profile_id or ids[0], ids, keys)


def _trait_email(traits: Any) -> str | None:
    held = traits.get("email") if isinstance(traits, dict) else None
    value = held.get("value") if isinstance(held, dict) else held
    return value.strip().lower() if isinstance(value, str) else None


def _event_conditions(person: Person, *, email_anywhere: bool = False) -> list[ColumnElement[bool]]:
    """One condition per index (store/tables/ingest.py), as profiles.recent_events reads.

    ``email_anywhere`` (deletion): also the events that carry one of the emails whatever
    their user id (``events.email`` holds ``traits.email``, ``context.traits.email`` or
    ``properties.email``, see ``segment.message_email``) - a scan of ``events``, the
    partial index covering only events without a user or anonymous id."""
    conditions: list[ColumnElement[bool]] = []
    user_ids, anonymous_ids, emails = (
        person.values("user_id"),
        person.values("anonymous_id"),
        person.values("email"),
    )
    for start in range(0, max(len(user_ids), 1), _BULK):
        if chunk := user_ids[start : start + _BULK]:
            conditions.append(events.c.user_id.in_(chunk))
    for start in range(0, max(len(anonymous_ids), 1), _BULK):
        if chunk := anonymous_ids[start : start + _BULK]:
            conditions.append(
                and_(
                    events.c.user_id.is_(None),
                    events.c.anonymous_id.is_not(None),
                    events.c.anonymous_id.in_(chunk),
                )
            )
    for start in range(0, max(len(emails), 1), _BULK):
        if (chunk := emails[start : start + _BULK]) and email_anywhere:
            conditions.append(
                and_(events.c.email.is_not(None), func.lower(events.c.email).in_(chunk))
            )
        elif chunk:
            conditions.append(
                and_(
                    events.c.user_id.is_(None),
                    events.c.anonymous_id.is_(None),
                    events.c.email.is_not(None),
                    events.c.email.in_(chunk),
                )
            )
    return conditions


async def person_events(
    connection: AsyncConnection, person: Person, *, email_anywhere: bool = False
) -> list[Any]:
    """Every stored event of the person (rows of ``events``), oldest first."""
    found: dict[int, Any] = {}
    for condition in _event_conditions(person, email_anywhere=email_anywhere):
        for row in await connection.execute(select(events).where(condition)):
            found[row.seq] = row
    return [found[seq] for seq in sorted(found)]


def scrub_document(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` without personal keys, and with any string quoting a secret replaced."""
    if isinstance(value, dict):
        return {k: scrub_document(v, secrets) for k, v in value.items() if k not in PERSONAL_KEYS}
    if isinstance(value, list):
        return [scrub_document(v, secrets) for v in value]
    if isinstance(value, str):
        lowered = value.lower()
        return SCRUBBED if any(s.lower() in lowered for s in secrets) else value
    return value


async def forget_person(
    connection: AsyncConnection, person: Person, *, mode: EventMode = "delete"
) -> Forgotten:
    """Remove the person's events (or scrub them), raw webhook requests, identities and
    profiles, in the caller's transaction."""
    result = Forgotten()
    rows = await person_events(connection, person, email_anywhere=True)
    result.event_ids = [row.id for row in rows]
    secrets = [value for _, value in person.keys if value]
    if mode == "scrub":
        for row in rows:
            await connection.execute(
                update(events)
                .where(events.c.seq == row.seq)
                .values(
                    user_id=None,
                    anonymous_id=None,
                    email=None,
                    data=scrub_document(row.data, secrets),
                )
            )
    else:
        seqs = [row.seq for row in rows]
        for start in range(0, len(seqs), _BULK):
            await connection.execute(
                delete(events).where(events.c.seq.in_(seqs[start : start + _BULK]))
            )
    result.events = len(rows)
    # Raw requests that carried one of the events (their bodies quote the person).
    for start in range(0, len(result.event_ids), _REQUEST_CHUNK):
        chunk = result.event_ids[start : start + _REQUEST_CHUNK]
        outcome = await connection.execute(
            delete(webhook_requests).where(
                or_(*(holds_string(webhook_requests.c.event_ids, eid) for eid in chunk))
            )
        )
        result.webhook_requests += int(outcome.rowcount or 0)
    for start in range(0, len(person.profile_ids), _BULK):
        chunk = person.profile_ids[start : start + _BULK]
        outcome = await connection.execute(
            delete(identities).where(identities.c.profile_id.in_(chunk))
        )
        result.identities += int(outcome.rowcount or 0)
    # Identities given but owned by no profile of theirs are not touched: they are
    # someone else's.
    for start in range(0, len(person.profile_ids), _BULK):
        chunk = person.profile_ids[start : start + _BULK]
        outcome = await connection.execute(delete(profiles).where(profiles.c.id.in_(chunk)))
        result.profiles += int(outcome.rowcount or 0)
    return result
