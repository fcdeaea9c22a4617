"""Suppressed people: their events are dropped before they are stored or fanned out.

A suppression is kept as ``HMAC-SHA256(key, "<kind>:<value>")``, never the value. The key
is 32 random bytes made on the first suppression and stored sealed by the keyring
(``privacy_keys``): emails and user ids are guessable, so a plain SHA-256 would let anyone
holding a copy of the database confirm a guess; with the key sealed under
``RENKEI_SECRET_KEY`` a copy alone confirms nothing. The key never changes (a keyring
rotation re-seals it), so stored hashes stay comparable.

Ingest checks every event against an in-memory set of hashes (:class:`SuppressionSet`):
while nothing is suppressed the check costs one comparison; otherwise one HMAC per identity
of the event. The set reloads when the configuration version moved (suppressing and lifting
bump it), read at most once per second, and at once after a change made in this process.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.errors import NotFound
from renkei.events.envelope import Event, format_timestamp
from renkei.events.metrics import SUPPRESSED_EVENTS
from renkei.ids import new_id
from renkei.security.keyring import Keyring
from renkei.store.config_version import CHANGED_FLAG, bump_version, read_version
from renkei.store.database import Database
from renkei.store.statements import insert_ignoring
from renkei.store.tables.privacy import privacy_keys, suppressions

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = [
    "SUPPRESSION_KINDS",
    "Suppression",
    "SuppressionSet",
    "add_suppression",
    "drop_suppressed",
    "ensure_key",
    "event_keys",
    "hash_of",
    "identity_hash",
    "lift_suppression",
    "list_suppressions",
    "suppressed_profiles",
    "suppression_set",
]

SUPPRESSION_KINDS = ("user_id", "anonymous_id", "email")
_CONTEXT = "privacy_keys.hmac_key"  # the column, as the keyring's associated data
_REFRESH_SECONDS = 1.0
_SEEN_MAX = 65_536  # identities remembered per process, per snapshot of the suppressions


def normalize(kind: str, value: str) -> str:
    value = value.strip()
    return value.lower() if kind == "email" else value


def identity_hash(key: bytes, kind: str, value: str) -> str:
    """The keyed hash of one identity, as ``suppressions`` stores it."""
    message = f"{kind}:{normalize(kind, value)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def event_keys(event: Event) -> Iterable[tuple[str, str]]:
    if event.user_id:
        yield "user_id", event.user_id
    if event.anonymous_id:
        yield "anonymous_id", event.anonymous_id
    if event.email:
        yield "email", event.email


async def ensure_key(connection: AsyncConnection, keyring: Keyring, now: datetime) -> bytes:
    """The HMAC key, made (and stored sealed) in this transaction if there is none yet."""
    sealed = keyring.encrypt(os.urandom(32).hex(), context=_CONTEXT)
    await connection.execute(
        insert_ignoring(connection, privacy_keys).values(id=1, hmac_key=sealed, created_at=now)
    )
    return await _read_key(connection, keyring) or b""


async def _read_key(connection: AsyncConnection, keyring: Keyring) -> bytes | None:
    sealed = (
        await connection.execute(select(privacy_keys.c.hmac_key).where(privacy_keys.c.id == 1))
    ).scalar()
    return bytes.fromhex(keyring.decrypt(sealed, context=_CONTEXT)) if sealed else None


@dataclass(frozen=True, slots=True)
class _Snapshot:
    version: int
    key: bytes | None
    hashes: frozenset[str]


class SuppressionSet:
    """This process's view of the suppressions (one per database)."""

    def __init__(self, database: Database, keyring: Keyring) -> None:
        self._keyring = keyring
        self._snapshot: _Snapshot | None = None
        self._checked_at = 0.0
        self._dirty = True
        self._seen: dict[tuple[str, str], bool] = {}
        self._seen_for: _Snapshot | None = None
        database.on_commit(CHANGED_FLAG, self.invalidate)

    def invalidate(self) -> None:
        self._dirty = True

    async def snapshot(self, connection: AsyncConnection) -> _Snapshot:
        current = self._snapshot
        if (
            current is not None
            and not self._dirty
            and time.monotonic() - self._checked_at < _REFRESH_SECONDS
        ):
            return current
        self._dirty = False
        version = await read_version(connection)
        self._checked_at = time.monotonic()
        if current is not None and current.version == version:
            return current
        hashes: set[str] = set()
        for value_hash, covers in await connection.execute(
            select(suppressions.c.value_hash, suppressions.c.covers)
        ):
            hashes.add(value_hash)
            hashes.update(covers or [])
        key = await _read_key(connection, self._keyring) if hashes else None
        self._snapshot = _Snapshot(version, key, frozenset(hashes))
        return self._snapshot

    def _covered(self, snapshot: _Snapshot, kind: str, value: str) -> bool:
        """Whether one identity is suppressed; remembered per snapshot (most events come
        from people seen a moment ago, and a dict lookup is cheaper than an HMAC)."""
        if self._seen_for is not snapshot or len(self._seen) >= _SEEN_MAX:
            self._seen = {}
            self._seen_for = snapshot
        found = self._seen.get((kind, value))
        if found is None:
            assert snapshot.key is not None
            found = self._seen[(kind, value)] = (
                identity_hash(snapshot.key, kind, value) in snapshot.hashes
            )
        return found

    async def drop(self, connection: AsyncConnection, events: Sequence[Event]) -> list[Event]:
        """``events`` without those of a suppressed person (counted, not stored)."""
        snapshot = await self.snapshot(connection)
        if not snapshot.hashes or snapshot.key is None:
            return list(events)
        kept = [
            event
            for event in events
            if not any(self._covered(snapshot, k, v) for k, v in event_keys(event))
        ]
        if len(kept) != len(events):
            SUPPRESSED_EVENTS.inc(len(events) - len(kept))
        return kept

    async def is_suppressed(
        self, connection: AsyncConnection, keys: Iterable[tuple[str, str]]
    ) -> bool:
        snapshot = await self.snapshot(connection)
        if not snapshot.hashes or snapshot.key is None:
            return False
        return any(self._covered(snapshot, k, v) for k, v in keys)


_SETS: weakref.WeakKeyDictionary[Database, SuppressionSet] = weakref.WeakKeyDictionary()


def suppression_set(hub: Core) -> SuppressionSet:
    """The process's suppression set for the hub's database."""
    found = _SETS.get(hub.database)
    if found is None:
        found = _SETS[hub.database] = SuppressionSet(hub.database, hub.keyring)
    return found


async def drop_suppressed(
    hub: Core, connection: AsyncConnection, events: Sequence[Event]
) -> list[Event]:
    return await suppression_set(hub).drop(connection, events)


# --- suppressions kept ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Suppression:
    id: str
    kind: str
    value_hash: str
    covers: int
    """How many other identities of the person's profile it also covers."""
    created_at: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "value_hash": self.value_hash,
            "covers": self.covers,
            "created_at": format_timestamp(self.created_at),
        }


def _suppression(row: Any) -> Suppression:
    return Suppression(row.id, row.kind, row.value_hash, len(row.covers or []), row.created_at)


async def add_suppression(
    connection: AsyncConnection,
    keyring: Keyring,
    now: datetime,
    *,
    kind: str,
    value: str,
    also: Sequence[tuple[str, str]] = (),
) -> tuple[Suppression, bool]:
    """Suppress ``(kind, value)``, and ``also`` the other identities the person is known
    by (hashed the same way). Returns the suppression and whether it is new (suppressing
    twice is the first one)."""
    key = await ensure_key(connection, keyring, now)
    value_hash = identity_hash(key, kind, value)
    covers = sorted({identity_hash(key, k, v) for k, v in also} - {value_hash})
    row = {
        "id": new_id("sup"),
        "kind": kind,
        "value_hash": value_hash,
        "covers": covers,
        "created_at": now,
    }
    inserted = await connection.execute(insert_ignoring(connection, suppressions).values(row))
    found = (
        await connection.execute(
            select(suppressions).where(
                suppressions.c.kind == kind, suppressions.c.value_hash == value_hash
            )
        )
    ).one()
    if inserted.rowcount:
        await bump_version(connection)
    return _suppression(found), bool(inserted.rowcount)


async def lift_suppression(connection: AsyncConnection, suppression_id: str) -> Suppression:
    row = (
        await connection.execute(select(suppressions).where(suppressions.c.id == suppression_id))
    ).first()
    if row is None:
        raise NotFound("suppression", suppression_id)
    await connection.execute(delete(suppressions).where(suppressions.c.id == suppression_id))
    await bump_version(connection)
    return _suppression(row)


async def list_suppressions(
    connection: AsyncConnection, *, limit: int, before: str | None = None
) -> list[Suppression]:
    query = select(suppressions).order_by(suppressions.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(suppressions.c.id < before)
    return [_suppression(row) for row in await connection.execute(query)]


async def hash_of(
    connection: AsyncConnection, keyring: Keyring, kind: str, value: str
) -> str | None:
    """The keyed hash of an identity (None while no key exists: nothing was ever suppressed)."""
    key = await _read_key(connection, keyring)
    return identity_hash(key, kind, value) if key else None


async def suppressed_profiles(
    hub: Core, connection: AsyncConnection, profiles: Sequence[Any]
) -> set[str]:
    """The ids of the profiles (``events.profiles.Profile``) a suppression covers: syncs
    leave them out, so nothing is sent about a suppressed person."""
    checker = suppression_set(hub)
    found: set[str] = set()
    for profile in profiles:
        keys = [
            (identity.kind, identity.value)
            for identity in profile.identities
            if identity.kind in SUPPRESSION_KINDS
        ]
        if keys and await checker.is_suppressed(connection, keys):
            found.add(profile.id)
    return found
