"""Profiles: people assembled from identities, with traits that remember when they changed.

An identity is ``(kind, value)``: ``user_id``, ``anonymous_id``, ``email`` (lower-cased) or a
vendor id such as ``marketo_lead_id`` (scoped by connection, see :func:`vendor_identity`).
Each belongs to exactly one profile. Ingest resolves
every new event to a profile in the transaction that stores it:

- the event's identities that are unknown are attached to the profile found through the
  others, or to a new profile;
- when they point at several profiles, those merge, unless both already have (different)
  user ids: two known users are never merged implicitly;
- ``alias`` merges ``previousId``'s profile into ``userId``'s unconditionally (it is the
  explicit instruction that the two are one person);
- ``identify`` merges its traits: each trait keeps ``{"value", "updated_at"}`` and an event
  older than a trait's ``updated_at`` does not overwrite it (last writer by event time).

A merged profile keeps its row with ``merged_into`` set, so ids handed out earlier resolve.
Syncs use :func:`resolve_profile`, :func:`attach_identity` and :func:`upsert_profile_traits`
in their own transactions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.errors import NotFound
from renkei.events.envelope import Event, format_timestamp
from renkei.ids import new_id
from renkei.store.chunks import few_sized_chunks
from renkei.store.identity_owners import identity_owners
from renkei.store.statements import insert_ignoring
from renkei.store.tables import events as events_table
from renkei.store.tables.ingest import identities, profiles

__all__ = [
    "Identity",
    "IdentityConflict",
    "IdentityRace",
    "Profile",
    "ProfileNotFound",
    "ProfileQuery",
    "ProfileResolver",
    "apply_events",
    "attach_identity",
    "event_identities",
    "find_profiles",
    "get_profile",
    "identities_of",
    "load_profiles",
    "normalize_identity",
    "profile_owners",
    "profile_traits",
    "profile_with",
    "profiles_by_email",
    "recent_events",
    "resolve_profile",
    "upsert_profile_traits",
    "vendor_identity",
    "vendor_ids",
]

Key = tuple[str, str]

MAX_KIND_LENGTH = 64
MAX_VALUE_LENGTH = 320
_KIND = re.compile(r"[a-z][a-z0-9_]*")
_PRIORITY = {"user_id": 0, "email": 1, "anonymous_id": 9}  # vendor ids rank in between
_CHUNK = 2000
_RECENT_IDENTITIES = 500
_BULK = 500  # ids in one IN (...) of a bulk read


class ProfileNotFound(NotFound, LookupError):
    def __init__(self, profile_id: str) -> None:
        super().__init__("profile", profile_id)
        self.profile_id = profile_id


class IdentityConflict(Exception):
    """The identity belongs to a profile that may not be merged with this one."""


class IdentityRace(Exception):
    """Another process attached one of the identities first; rerun the transaction."""


@dataclass(frozen=True, slots=True)
class Identity:
    kind: str
    value: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "value": self.value,
            "created_at": format_timestamp(self.created_at),
        }


@dataclass(slots=True)
class Profile:
    id: str
    identities: list[Identity]
    traits: dict[str, dict[str, Any]]
    """``{name: {"value": ..., "updated_at": "<RFC 3339>"}}``"""
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "identities": [identity.to_dict() for identity in self.identities],
            "traits": self.traits,
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
        }

    def values(self, kind: str) -> list[str]:
        return [identity.value for identity in self.identities if identity.kind == kind]


def normalize_identity(kind: str, value: str) -> Key:
    """``(kind, value)`` as stored; raises ``ValueError`` for a malformed one."""
    kind = kind.strip()
    value = value.strip()
    if not _KIND.fullmatch(kind) or len(kind) > MAX_KIND_LENGTH:
        raise ValueError("an identity kind is lower-case letters, digits and _ (max 64)")
    if not value or len(value) > MAX_VALUE_LENGTH:
        raise ValueError(f"an identity value has 1 to {MAX_VALUE_LENGTH} characters")
    if kind == "email":
        value = value.lower()
    return kind, value


def vendor_identity(kind: str, connection_id: str, vendor_id: str) -> Key:
    """A vendor's id for a person, in the namespace of the connection that issued it.

    Lead #1 of one Marketo instance and lead #1 of another (or of staging and production)
    are different people: the stored value is ``<connection id>:<vendor id>``."""
    return normalize_identity(kind, f"{connection_id}:{vendor_id}")


def vendor_ids(profile: Profile, kind: str, connection_id: str) -> list[str]:
    """The vendor ids of ``kind`` a profile has in this connection (oldest first)."""
    prefix = f"{connection_id}:"
    return [value[len(prefix) :] for value in profile.values(kind) if value.startswith(prefix)]


def event_identities(event: Event) -> list[Key]:
    """The identities an event carries, most specific first."""
    return identities_of(event.user_id, event.email, event.anonymous_id)


def identities_of(user_id: str | None, email: str | None, anonymous_id: str | None) -> list[Key]:
    """The identities of an event's ``user_id``, ``email`` and ``anonymous_id`` (an event
    or a stored row of ``events``), most specific first."""
    keys: list[Key] = []
    if user_id and len(user_id) <= MAX_VALUE_LENGTH:
        keys.append(("user_id", user_id))
    email = (email or "").strip().lower()
    if "@" in email and len(email) <= MAX_VALUE_LENGTH:
        keys.append(("email", email))
    if anonymous_id and len(anonymous_id) <= MAX_VALUE_LENGTH:
        keys.append(("anonymous_id", anonymous_id))
    return keys


def _priority(key: Key) -> int:
    return _PRIORITY.get(key[0], 5)


@dataclass(slots=True)
class _State:
    id: str
    new: bool
    traits: dict[str, dict[str, Any]] | None = None
    user_ids: set[str] | None = None
    traits_changed: bool = False
    touched: bool = False


@dataclass(slots=True)
class _Merge:
    loser: str
    winner: str


class ProfileResolver:
    """Resolves identities to profiles inside one transaction, writing on :meth:`flush`.

    Reads are batched: :meth:`load` fetches the owners of many identities at once, and a
    profile's traits or user ids are read only when a merge or an ``identify`` needs them.
    """

    def __init__(self, connection: AsyncConnection, *, now: datetime) -> None:
        self._connection = connection
        self._now = now
        self._owner: dict[Key, str] = {}
        self._looked_up: set[Key] = set()
        self._new_identities: dict[Key, None] = {}
        self._states: dict[str, _State] = {}
        self._merged: dict[str, str] = {}
        self._merges: list[_Merge] = []

    # -- reading -----------------------------------------------------------------------------

    async def load(self, keys: Iterable[Key]) -> None:
        wanted = [key for key in dict.fromkeys(keys) if key not in self._looked_up]
        if not wanted:
            return
        self._looked_up.update(wanted)
        for start in range(0, len(wanted), _CHUNK):
            by_kind: dict[str, list[str]] = {}
            for kind, value in wanted[start : start + _CHUNK]:
                by_kind.setdefault(kind, []).append(value)
            for kind, value, profile_id in await identity_owners(self._connection, by_kind):
                self._owner[(kind, value)] = profile_id

    def owner(self, key: Key) -> str | None:
        profile_id = self._owner.get(key)
        return None if profile_id is None else self._live(profile_id)

    def _live(self, profile_id: str) -> str:
        while profile_id in self._merged:
            profile_id = self._merged[profile_id]
        return profile_id

    def _state(self, profile_id: str) -> _State:
        state = self._states.get(profile_id)
        if state is None:
            state = self._states[profile_id] = _State(profile_id, new=False)
        return state

    async def existing(self, profile_id: str) -> str:
        """The live id of a stored profile (following a merge); raises ProfileNotFound."""
        row = (
            await self._connection.execute(
                select(profiles.c.id, profiles.c.merged_into).where(profiles.c.id == profile_id)
            )
        ).first()
        if row is None:
            raise ProfileNotFound(profile_id)
        live = self._live(row.merged_into or row.id)
        self._state(live)
        return live

    async def _user_ids(self, profile_id: str) -> set[str]:
        state = self._state(profile_id)
        if state.user_ids is None:
            if state.new:
                state.user_ids = set()
            else:
                rows = await self._connection.execute(
                    select(identities.c.value).where(
                        identities.c.profile_id == profile_id, identities.c.kind == "user_id"
                    )
                )
                state.user_ids = set(rows.scalars())
            state.user_ids.update(
                value
                for (kind, value) in self._new_identities
                if kind == "user_id" and self.owner((kind, value)) == profile_id
            )
        return state.user_ids

    async def _traits(self, profile_id: str) -> dict[str, dict[str, Any]]:
        state = self._state(profile_id)
        if state.traits is None:
            if state.new:
                state.traits = {}
            else:
                # FOR UPDATE (with a single writer, its lock is enough): no lost update
                # when another node changes the same profile at the same time.
                row = (
                    await self._connection.execute(
                        select(profiles.c.traits)
                        .where(profiles.c.id == profile_id)
                        .with_for_update()
                    )
                ).first()
                state.traits = dict(row.traits) if row is not None and row.traits else {}
        return state.traits

    # -- resolving ---------------------------------------------------------------------------

    async def resolve(self, keys: Sequence[Key]) -> str | None:
        """The profile these identities belong to, attaching, merging or creating as needed."""
        ordered = sorted(dict.fromkeys(keys), key=_priority)
        if not ordered:
            return None
        await self.load(ordered)
        candidates = list(
            dict.fromkeys(owner for key in ordered if (owner := self.owner(key)) is not None)
        )
        user_key = next((key for key in ordered if key[0] == "user_id"), None)
        primary: str | None = None
        if user_key is not None:
            primary = self.owner(user_key)
            if primary is None:
                for candidate in candidates:
                    if not await self._user_ids(candidate):
                        primary = candidate
                        break
                else:
                    primary = self._create()
                await self._attach(user_key, primary)
        elif candidates:
            primary = candidates[0]
        else:
            primary = self._create()
        for candidate in candidates:
            candidate = self._live(candidate)
            if candidate != primary and await self._can_merge(primary, candidate):
                await self._merge(candidate, into=primary)
        for key in ordered:
            if self.owner(key) is None:
                await self._attach(key, primary)
        return primary

    async def alias(self, previous_id: str, user_keys: Sequence[Key]) -> str | None:
        """``alias``: ``previous_id`` (a user id or an anonymous id) is the same person."""
        primary = await self.resolve(user_keys)
        if primary is None or len(previous_id) > MAX_VALUE_LENGTH:
            return primary
        previous = [("user_id", previous_id), ("anonymous_id", previous_id)]
        await self.load(previous)
        owners = [owner for key in previous if (owner := self.owner(key)) is not None]
        if not owners:
            await self._attach(("anonymous_id", previous_id), primary)
        for owner in owners:
            owner = self._live(owner)
            if owner != primary:
                await self._merge(owner, into=primary)
        return self._live(primary)

    async def attach(self, profile_id: str, key: Key) -> str:
        """Attach ``key`` to the profile, merging the profile that holds it if allowed."""
        profile_id = self._live(profile_id)
        await self.load([key])
        owner = self.owner(key)
        if owner == profile_id:
            return profile_id
        if owner is None:
            if key[0] == "user_id" and await self._user_ids(profile_id):
                raise IdentityConflict(f"profile {profile_id} already has a user id")
            await self._attach(key, profile_id)
        elif await self._can_merge(profile_id, owner):
            await self._merge(owner, into=profile_id)
        else:
            raise IdentityConflict(
                f"{key[0]} belongs to profile {owner}, which has a different user id"
            )
        return profile_id

    async def current_traits(self, profile_id: str) -> dict[str, dict[str, Any]]:
        """The profile's traits as they are now, its row locked until the transaction ends
        (``FOR UPDATE``, or a single writer's lock): read, then write, atomically."""
        return dict(await self._traits(self._live(profile_id)))

    async def merge_traits(
        self, profile_id: str, traits: Mapping[str, Any], *, at: datetime, force: bool = False
    ) -> bool:
        """Set traits as of ``at``; a trait last changed after ``at`` keeps its value,
        unless ``force`` (a flow's update, computed from the current value)."""
        profile_id = self._live(profile_id)
        current = await self._traits(profile_id)
        stamp = format_timestamp(at)
        changed = False
        for name, value in traits.items():
            entry = current.get(name)
            if entry is not None and entry["value"] == value:
                continue
            if entry is not None and stamp < entry["updated_at"] and not force:
                continue
            current[name] = {"value": value, "updated_at": stamp}
            changed = True
        if changed:
            state = self._state(profile_id)
            state.traits_changed = state.touched = True
        return changed

    def _create(self) -> str:
        profile_id = new_id("prof")
        self._states[profile_id] = _State(profile_id, new=True, traits={}, user_ids=set())
        return profile_id

    async def _attach(self, key: Key, profile_id: str) -> None:
        if key[0] == "user_id":
            (await self._user_ids(profile_id)).add(key[1])
        self._owner[key] = profile_id
        self._looked_up.add(key)
        self._new_identities[key] = None
        self._state(profile_id).touched = True

    async def _can_merge(self, first: str, second: str) -> bool:
        ours, theirs = await self._user_ids(first), await self._user_ids(second)
        return not (ours and theirs and ours != theirs)

    async def _merge(self, loser: str, *, into: str) -> None:
        winner_traits = await self._traits(into)
        for name, entry in (await self._traits(loser)).items():
            current = winner_traits.get(name)
            if current is None or entry["updated_at"] > current["updated_at"]:
                winner_traits[name] = entry
        (await self._user_ids(into)).update(await self._user_ids(loser))
        winner = self._state(into)
        winner.traits_changed = winner.touched = True
        self._merged[loser] = into
        if not self._state(loser).new:
            self._merges.append(_Merge(loser, into))

    # -- writing -----------------------------------------------------------------------------

    async def flush(self) -> None:
        connection, now = self._connection, self._now
        created = [
            {
                "id": state.id,
                "traits": state.traits or {},
                "merged_into": None,
                "created_at": now,
                "updated_at": now,
            }
            for state in self._states.values()
            if state.new and state.id not in self._merged
        ]
        if created:
            await connection.execute(profiles.insert(), created)
        for merge in self._merges:
            winner = self._live(merge.winner)
            await connection.execute(
                update(identities)
                .where(identities.c.profile_id == merge.loser)
                .values(profile_id=winner)
            )
            await connection.execute(
                update(profiles)
                .where(or_(profiles.c.id == merge.loser, profiles.c.merged_into == merge.loser))
                .values(merged_into=winner, updated_at=now)
            )
        await self._insert_identities()
        changed = [
            state
            for state in self._states.values()
            if not state.new and state.id not in self._merged and state.touched
        ]
        with_traits = [
            {"profile_id": state.id, "traits": state.traits, "now": now}
            for state in changed
            if state.traits_changed
        ]
        touched = [{"profile_id": s.id, "now": now} for s in changed if not s.traits_changed]
        if with_traits:
            await connection.execute(
                update(profiles)
                .where(profiles.c.id == bindparam("profile_id"))
                .values(traits=bindparam("traits"), updated_at=bindparam("now")),
                with_traits,
            )
        if touched:
            await connection.execute(
                update(profiles)
                .where(profiles.c.id == bindparam("profile_id"))
                .values(updated_at=bindparam("now")),
                touched,
            )
        self._new_identities.clear()
        self._merges.clear()
        for state in self._states.values():
            state.new = state.traits_changed = state.touched = False

    async def _insert_identities(self) -> None:
        rows = [
            {
                "kind": kind,
                "value": value,
                "profile_id": self.owner((kind, value)),
                "created_at": self._now,
            }
            for kind, value in self._new_identities
        ]
        for chunk in few_sized_chunks(rows):  # a few statement sizes (store/chunks.py)
            statement = (
                insert_ignoring(self._connection, identities)
                .values(chunk)
                .returning(identities.c.kind)
            )
            inserted = len((await self._connection.execute(statement)).all())
            if inserted != len(chunk):
                raise IdentityRace("an identity was attached concurrently")


# -- the ingest step ---------------------------------------------------------------------------


async def apply_events(
    connection: AsyncConnection,
    events: Sequence[Event],
    *,
    now: datetime,
) -> None:
    """Resolve new events to profiles; ``identify`` merges traits, ``alias`` links."""
    resolver = ProfileResolver(connection, now=now)
    keys: list[Key] = []
    for event in events:
        keys.extend(event_identities(event))
        if event.type == "alias":
            previous = event.data.get("previousId")
            if isinstance(previous, str) and len(previous) <= MAX_VALUE_LENGTH:
                keys += [("user_id", previous), ("anonymous_id", previous)]
    if not keys:
        return
    await resolver.load(keys)
    for event in events:
        event_keys = event_identities(event)
        if event.type == "alias":
            previous = event.data.get("previousId")
            if isinstance(previous, str) and previous.strip():
                await resolver.alias(previous, event_keys)
                continue
        holders = {resolver.owner(key) for key in event_keys}
        if len(holders) == 1 and None not in holders:
            profile_id = holders.pop()  # the usual case: nothing new to attach or merge
        else:
            profile_id = await resolver.resolve(event_keys)
        traits = _identify_traits(event) if event.type == "identify" else None
        if profile_id is not None and traits:
            await resolver.merge_traits(profile_id, traits, at=event.occurred_at)
    await resolver.flush()


def _identify_traits(event: Event) -> dict[str, Any]:
    """Segment sends an identify's traits at the top level, RudderStack in
    ``context.traits``; both count, the top level winning."""
    context = event.data.get("context")
    nested = context.get("traits") if isinstance(context, dict) else None
    top = event.data.get("traits")
    return {
        **(nested if isinstance(nested, dict) else {}),
        **(top if isinstance(top, dict) else {}),
    }


# -- services for syncs and the API ------------------------------------------------------------


async def resolve_profile(
    connection: AsyncConnection,
    keys: Iterable[tuple[str, str]],
    *,
    now: datetime,
    traits: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> str:
    """The profile of these identities (found, merged or created), optionally setting traits.

    For syncs: ``await resolve_profile(tx, [("email", lead["email"]),
    vendor_identity("marketo_lead_id", connection.id, str(lead["id"]))],
    now=clock.now(), traits=fields)``.
    """
    normalized = [normalize_identity(kind, value) for kind, value in keys]
    if not normalized:
        raise ValueError("at least one identity is needed")
    resolver = ProfileResolver(connection, now=now)
    profile_id = await resolver.resolve(normalized)
    assert profile_id is not None
    if traits:
        await resolver.merge_traits(profile_id, traits, at=at or now)
    await resolver.flush()
    return profile_id


async def attach_identity(
    connection: AsyncConnection, profile_id: str, kind: str, value: str, *, now: datetime
) -> str:
    """Attach ``kind: value`` (e.g. a Marketo lead id) to a profile; returns the live id.

    When another profile holds the identity the two merge, unless both have different user
    ids: then :class:`IdentityConflict`. Raises :class:`ProfileNotFound` and ``ValueError``.
    """
    key = normalize_identity(kind, value)
    resolver = ProfileResolver(connection, now=now)
    live = await resolver.attach(await resolver.existing(profile_id), key)
    await resolver.flush()
    return live


async def upsert_profile_traits(
    connection: AsyncConnection,
    profile_id: str,
    traits: Mapping[str, Any],
    *,
    now: datetime,
    at: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """Merge traits as of ``at`` (default ``now``) into a profile; returns all its traits."""
    resolver = ProfileResolver(connection, now=now)
    live = await resolver.existing(profile_id)
    await resolver.merge_traits(live, traits, at=at or now)
    merged = dict(await resolver._traits(live))
    await resolver.flush()
    return merged


async def get_profile(connection: AsyncConnection, profile_id: str) -> Profile | None:
    """A profile by id; the id of a profile merged away gives the one it merged into."""
    row = (await connection.execute(select(profiles).where(profiles.c.id == profile_id))).first()
    if row is not None and row.merged_into is not None:
        row = (
            await connection.execute(select(profiles).where(profiles.c.id == row.merged_into))
        ).first()
    if row is None:
        return None
    return (await _with_identities(connection, [row]))[0]


@dataclass(slots=True)
class ProfileQuery:
    identities: list[Key] = field(default_factory=list)
    has: list[tuple[str, str]] = field(default_factory=list)
    """``(kind, value prefix)``: only profiles holding an identity of that kind (a vendor id
    of one connection: prefix ``<connection id>:``), e.g. KARTE's "Marketo lead linked"."""
    limit: int = 50
    before: str | None = None
    """Cursor: profiles with an id lower than this (newest first)."""


async def find_profiles(connection: AsyncConnection, query: ProfileQuery) -> list[Profile]:
    """Profiles newest first; with identities, only the profile holding all of them."""
    statement = select(profiles).where(profiles.c.merged_into.is_(None))
    for kind, value in query.identities:
        statement = statement.where(
            profiles.c.id.in_(
                select(identities.c.profile_id).where(
                    identities.c.kind == kind, identities.c.value == value
                )
            )
        )
    for kind, prefix in query.has:
        held = identities.c.kind == kind
        if prefix:
            held = and_(held, identities.c.value.startswith(prefix, autoescape=True))
        statement = statement.where(profiles.c.id.in_(select(identities.c.profile_id).where(held)))
    if query.before is not None:
        statement = statement.where(profiles.c.id < query.before)
    statement = statement.order_by(profiles.c.id.desc()).limit(query.limit)
    rows = list(await connection.execute(statement))
    return await _with_identities(connection, rows)


async def _with_identities(connection: AsyncConnection, rows: Sequence[Any]) -> list[Profile]:
    if not rows:
        return []
    owned: dict[str, list[Identity]] = {row.id: [] for row in rows}
    query = (
        select(identities)
        .where(identities.c.profile_id.in_(list(owned)))
        .order_by(identities.c.created_at, identities.c.kind, identities.c.value)
    )
    for identity in await connection.execute(query):
        owned[identity.profile_id].append(
            Identity(identity.kind, identity.value, identity.created_at)
        )
    return [
        Profile(row.id, owned[row.id], dict(row.traits or {}), row.created_at, row.updated_at)
        for row in rows
    ]


async def recent_events(
    connection: AsyncConnection, profile: Profile, *, limit: int = 20
) -> list[Any]:
    """The profile's latest events (rows of ``events``), newest first."""
    table = events_table
    user_ids = profile.values("user_id")[-_RECENT_IDENTITIES:]
    anonymous_ids = profile.values("anonymous_id")[-_RECENT_IDENTITIES:]
    emails = profile.values("email")[-_RECENT_IDENTITIES:]
    # One query per index (see store/tables/ingest.py), merged here.
    conditions: list[ColumnElement[bool]] = []
    if user_ids:
        conditions.append(table.c.user_id.in_(user_ids))
    if anonymous_ids:
        conditions.append(
            and_(
                table.c.user_id.is_(None),
                table.c.anonymous_id.is_not(None),
                table.c.anonymous_id.in_(anonymous_ids),
            )
        )
    if emails:
        conditions.append(
            and_(
                table.c.user_id.is_(None),
                table.c.anonymous_id.is_(None),
                table.c.email.is_not(None),
                table.c.email.in_(emails),
            )
        )
    found: dict[int, Any] = {}
    for condition in conditions:
        statement = select(table).where(condition).order_by(table.c.seq.desc()).limit(limit)
        for row in await connection.execute(statement):
            found[row.seq] = row
    return [found[seq] for seq in sorted(found, reverse=True)[:limit]]


# --- profiles in bulk (syncs read pages of them) ----------------------------------------------


async def profile_with(connection: AsyncConnection, kind: str, value: str) -> Profile | None:
    """The profile holding the identity ``(kind, value)``."""
    found = await find_profiles(connection, ProfileQuery(identities=[(kind, value)], limit=1))
    return found[0] if found else None


async def profile_owners(connection: AsyncConnection, keys: Sequence[Key]) -> dict[Key, str]:
    """The profiles holding these identities (identities follow merges to the winner)."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in dict.fromkeys(keys):
        by_kind.setdefault(kind, []).append(value)
    owners: dict[Key, str] = {}
    for kind, values in by_kind.items():
        for start in range(0, len(values), _BULK):
            rows = await connection.execute(
                select(identities.c.value, identities.c.profile_id).where(
                    identities.c.kind == kind,
                    identities.c.value.in_(values[start : start + _BULK]),
                )
            )
            for value, profile_id in rows:
                owners[(kind, value)] = profile_id
    return owners


async def profile_traits(
    connection: AsyncConnection, ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """``{profile id: traits}`` for these profiles."""
    found: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _BULK):
        rows = await connection.execute(
            select(profiles.c.id, profiles.c.traits).where(
                profiles.c.id.in_(unique[start : start + _BULK])
            )
        )
        for profile_id, traits in rows:
            found[profile_id] = dict(traits or {})
    return found


async def load_profiles(connection: AsyncConnection, ids: Sequence[str]) -> list[Profile]:
    """Profiles by id (those not merged away), with their identities, in the order of
    ``ids``: two queries per 500."""
    found: dict[str, Profile] = {}
    for start in range(0, len(ids), _BULK):
        rows = await connection.execute(
            select(profiles).where(
                profiles.c.id.in_(list(ids[start : start + _BULK])),
                profiles.c.merged_into.is_(None),
            )
        )
        for profile in await _with_identities(connection, list(rows)):
            found[profile.id] = profile
    return [found[profile_id] for profile_id in ids if profile_id in found]


async def profiles_by_email(
    connection: AsyncConnection, emails: Sequence[str]
) -> dict[str, Profile]:
    """``{email: profile}`` for the emails (lower-case) a profile holds."""
    owners = await profile_owners(connection, [("email", email) for email in emails])
    loaded = {
        p.id: p for p in await load_profiles(connection, list(dict.fromkeys(owners.values())))
    }
    return {
        value: loaded[profile_id]
        for (_, value), profile_id in owners.items()
        if profile_id in loaded
    }
