"""What a connector offers to syncs: the objects it reads and writes, declared as data.

A connector lists them in its ``sync_objects`` class attribute; the generic sync engine
(``renkei/syncs``) runs any of them without knowing the vendor::

    sync_objects = (
        PullProfiles("contacts", read=read_contacts, identity="crm_contact_id",
                     modified="updated_at"),
        PushProfiles("contacts", write="upsert_contacts", identity="crm_contact_id"),
    )

- :class:`PullProfiles`: vendor records merged into profiles by email, the vendor id
  attached as the identity ``identity`` (scoped by connection), values as of the record's
  ``modified`` field;
- :class:`PullEvents`: vendor records recorded as events (deduplicated by the id ``event``
  gives each one);
- :class:`PushProfiles`: profiles sent to the batchable operation ``write``, the vendor id it
  answers attached as ``identity``; optionally realtime links by a browser cookie
  (:class:`CookieLink`, e.g. Marketo's Munchkin cookie) and traits the connection derives
  from a pushed profile (``derived_traits``, e.g. ``marketo_hash``);
- :class:`PushEvents`: each event sent to ``write`` for the vendor's person, created first
  with ``create`` when the profile has no ``identity`` yet.

A pull reads one page per :data:`ReadPage` call. Every vendor call it makes goes through the
``call`` it is given (the connector service: shared rate limits, the daily quota, the run's
count of calls); the engine stores the page's records together with the page's cursor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from renkei.connectors.spec import Connector, OperationResult
from renkei.events.envelope import Event

__all__ = [
    "CookieLink",
    "DerivedTraits",
    "Page",
    "PullEvents",
    "PullProfiles",
    "PulledEvent",
    "PushEvents",
    "PushProfiles",
    "ReadPage",
    "SyncCall",
    "SyncObject",
    "find_sync_object",
    "sync_object_names",
]


class SyncCall(Protocol):
    """A vendor call through the connector service; ``calls`` is how many requests it
    costs the vendor's quota (an operation that first fetches a position costs two)."""

    async def __call__(self, operation: str, input: Any, *, calls: int = 1) -> OperationResult:
        """Run ``operation`` on the sync's connection."""


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a pull: its records, where the next page starts, whether there is one.
    ``read`` counts the vendor records the page read when that is not ``len(records)``
    (a page of changes that names fewer records)."""

    records: list[dict[str, Any]]
    cursor: dict[str, Any]
    more: bool
    read: int | None = None


ConfigCheck = Callable[[Mapping[str, Any]], str | None]
"""``check(config)``: why a sync's config cannot work (refused when saved), or None."""

ReadPage = Callable[[SyncCall, Mapping[str, Any], Mapping[str, Any]], Awaitable[Page]]
"""``read(call, config, cursor)``: the page at ``cursor`` (``{}`` on the first read)."""


@dataclass(frozen=True, slots=True)
class PulledEvent:
    """What a pulled record becomes as an event (received now, from the sync)."""

    id: str
    type: str
    name: str | None
    data: dict[str, Any]
    occurred_at: datetime | None
    user_id: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class PullProfiles:
    name: str
    read: ReadPage
    identity: str
    """The identity kind the record's ``id`` is attached as."""
    modified: str
    """The record field holding its modification time: values count as of it."""
    modified_is_trait: bool = False
    """Store ``modified`` as a trait too (else only when the sync's ``fields`` name it)."""
    identities: Callable[[Mapping[str, Any], Mapping[str, Any]], list[tuple[str, str]]] | None = (
        None
    )
    """``identities(record, config)``: more identities of the record's person (kind, value)."""
    check: ConfigCheck | None = None
    direction: Literal["pull"] = "pull"


@dataclass(frozen=True, slots=True)
class PullEvents:
    name: str
    read: ReadPage
    event: Callable[[Mapping[str, Any], Mapping[str, Any]], PulledEvent]
    """``event(record, config)``."""
    check: ConfigCheck | None = None
    direction: Literal["pull"] = "pull"


@dataclass(frozen=True, slots=True)
class CookieLink:
    """Realtime only: an event whose person has no email yet but carries the cookie
    ``identity`` (an identify trait of that name) is pushed through ``write`` (a batchable
    operation taking ``{"cookie": ..., **record}``); on success the profile gets the cookie
    as an identity and the vendor id as the push's identity."""

    identity: str
    write: str
    valid: Callable[[object], bool]
    """Whether a trait value is such a cookie at all."""


DerivedTraits = Callable[[Mapping[str, str], str], dict[str, Any]]
"""``traits(credentials, email)``: traits a successful push sets on the profile."""


@dataclass(frozen=True, slots=True)
class PushProfiles:
    name: str
    write: str
    """A batchable operation taking one record per profile (``email`` set)."""
    identity: str
    """The identity kind the vendor id in each record's outcome is attached as."""
    batch_size: int = 300
    cookie_link: CookieLink | None = None
    derived_traits: DerivedTraits | None = None
    direction: Literal["push"] = "push"


@dataclass(frozen=True, slots=True)
class PushEvents:
    name: str
    write: str
    """An operation taking a list of the records ``record`` builds."""
    identity: str
    """The identity kind of the vendor's person the record names."""
    create: str
    """A batchable operation that creates (or finds) that person from ``{"email": ...}``."""
    record: Callable[[Event, str, Mapping[str, Any]], dict[str, Any]]
    """``record(event, vendor_id, config)``."""
    direction: Literal["push"] = "push"


SyncObject = PullProfiles | PullEvents | PushProfiles | PushEvents


def find_sync_object(connector: Connector, direction: str, name: str) -> SyncObject | None:
    return next(
        (
            declared
            for declared in connector.sync_objects
            if declared.direction == direction and declared.name == name
        ),
        None,
    )


def sync_object_names(connector: Connector, direction: str) -> tuple[str, ...]:
    return tuple(d.name for d in connector.sync_objects if d.direction == direction)
