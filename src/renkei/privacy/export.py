"""Everything Renkei holds about a person, as one JSON document (the access request that
goes with deletion): the profile, its identities, traits (each with when it last changed;
the identify events below are the history of their values) and every event."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.errors import NotFound
from renkei.events import profiles
from renkei.events.envelope import format_timestamp
from renkei.events.forget import find_person, person_events
from renkei.events.history import event_dict

__all__ = ["export_person"]


async def export_person(connection: AsyncConnection, profile_id: str, now: Any) -> dict[str, Any]:
    profile = await profiles.get_profile(connection, profile_id)
    if profile is None:
        raise NotFound("profile", profile_id)
    person = await find_person(connection, profile_id=profile.id)
    assert person is not None  # the profile exists
    rows = await person_events(connection, person)
    identify = [row for row in rows if row.type == "identify"]
    return {
        "exported_at": format_timestamp(now),
        "profile": profile.to_dict(),
        "merged_profiles": [pid for pid in person.profile_ids if pid != profile.id],
        "identities": [identity.to_dict() for identity in profile.identities],
        "traits": profile.traits,
        "trait_history": [
            {
                "event_id": row.id,
                "occurred_at": format_timestamp(row.occurred_at),
                "traits": (row.data or {}).get("traits") or {},
            }
            for row in identify
        ],
        "events": [event_dict(row) for row in rows],
    }
