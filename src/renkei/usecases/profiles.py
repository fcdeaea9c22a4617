"""Profiles: who an identity belongs to, and one profile with its latest events."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from renkei.connectors.connections import find_connection
from renkei.errors import NotFound, RenkeiError
from renkei.events import profiles
from renkei.events.history import event_dict
from renkei.events.profiles import Profile, ProfileQuery
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["MAX_RECENT_EVENTS", "ProfileDetail", "get_profile", "list_profiles"]

MAX_RECENT_EVENTS = 200
_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True, slots=True)
class ProfileDetail:
    profile: Profile
    recent_events: list[dict[str, Any]]  # newest first, as the event log lists them


def _refused(message: str) -> RenkeiError:
    return RenkeiError(message, code="invalid_filter")


async def list_profiles(
    hub: Hub,
    actor: Actor,
    *,
    user_id: str | None = None,
    email: str | None = None,
    anonymous_id: str | None = None,
    kind: str | None = None,
    value: str | None = None,
    connection: str | None = None,
    has: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Listed[Profile]:
    """Profiles newest first; an identity filter finds the one profile holding it.

    A vendor id belongs to its connection (``connection``: name or id): lead 1 of a
    Marketo connection is stored as ``<connection id>:1``. ``has`` keeps the profiles
    holding any identity of that kind (of ``connection`` for a vendor id): KARTE's
    "Marketo lead linked" is ``has=marketo_lead_id``, "marketo_cookie linked"
    ``has=marketo_cookie``."""
    require(actor, "read")
    wanted = [("user_id", user_id), ("email", email), ("anonymous_id", anonymous_id)]
    if (kind is None) != (value is None):
        raise _refused("kind and value go together")
    if connection is not None and value is None and has is None:
        raise _refused("connection goes with kind and value, or with has")
    if has is not None and not _KIND.fullmatch(has):
        raise _refused("has must be an identity kind (lower-case letters, digits, _)")
    prefix = ""
    if connection is not None:
        async with hub.database.read() as reader:
            found_connection = await find_connection(reader, connection)
        if found_connection is None:
            raise NotFound("connection", connection)
        prefix = f"{found_connection.id}:"
        if value is not None:
            value = f"{prefix}{value}"
    if kind is not None and value is not None:
        wanted.append((kind, value))
    try:
        keys = [profiles.normalize_identity(k, v) for k, v in wanted if v is not None]
    except ValueError as exc:
        raise _refused(str(exc)) from exc
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    query = ProfileQuery(
        identities=keys,
        has=[] if has is None else [(has, prefix if value is None else "")],
        limit=size + 1,
        before=str(before) if before is not None else None,
    )
    async with hub.database.read() as reader:
        found = await profiles.find_profiles(reader, query)
    return Listed.cut(found, size, lambda profile: profile.id)


async def get_profile(
    hub: Hub, actor: Actor, profile_id: str, *, events: int = 20
) -> ProfileDetail:
    """A profile and its ``events`` latest events; the id of a profile merged into another
    gives that other one."""
    require(actor, "read")
    if events < 0 or events > MAX_RECENT_EVENTS:
        raise RenkeiError(f"events must be between 0 and {MAX_RECENT_EVENTS}", code="invalid_limit")
    async with hub.database.read() as connection:
        profile = await profiles.get_profile(connection, profile_id)
        if profile is None:
            raise NotFound("profile", profile_id)
        rows = await profiles.recent_events(connection, profile, limit=events) if events else []
    return ProfileDetail(profile, [event_dict(row) for row in rows])
