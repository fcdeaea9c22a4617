"""What a flow sees: the event as a document, the profile, and the scope of a step."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.profiles import get_profile, normalize_identity
from renkei.store.tables.ingest import identities

__all__ = ["default_user_key", "load_profile", "profile_document", "step_scope"]

_KINDS = ("user_id", "email", "anonymous_id")


def default_user_key(event: dict[str, Any]) -> str | None:
    """Who an event is about, for re-eligibility: user id, else email, else anonymous id."""
    for kind in _KINDS:
        value = event.get(kind)
        if isinstance(value, str) and value:
            return f"{kind}:{value.lower() if kind == 'email' else value}"
    return None


async def load_profile(connection: AsyncConnection, event: dict[str, Any]) -> dict[str, Any] | None:
    """The profile the event's identities point at, as ``{"id", "traits", "identities"}``."""
    for kind in _KINDS:
        value = event.get(kind)
        if not isinstance(value, str) or not value:
            continue
        try:
            key = normalize_identity(kind, value)
        except ValueError:
            continue
        profile_id = (
            await connection.execute(
                select(identities.c.profile_id).where(
                    identities.c.kind == key[0], identities.c.value == key[1]
                )
            )
        ).scalar()
        if profile_id is None:
            continue
        profile = await get_profile(connection, profile_id)
        if profile is not None:
            return profile_document(profile.id, profile.traits, profile.identities)
    return None


def profile_document(profile_id: str, traits: dict[str, Any], found: Any = ()) -> dict[str, Any]:
    ids: dict[str, list[str]] = {}
    for identity in found:
        ids.setdefault(identity.kind, []).append(identity.value)
    return {
        "id": profile_id,
        "traits": {
            name: entry.get("value") if isinstance(entry, dict) and "value" in entry else entry
            for name, entry in traits.items()
        },
        "identities": ids,
    }


def step_scope(
    *,
    event: dict[str, Any],
    data: Any,
    steps: dict[str, Any],
    profile: dict[str, Any] | None,
    flow: dict[str, Any],
    run: dict[str, Any],
) -> dict[str, Any]:
    return {
        "event": event,
        "data": data,
        "steps": steps,
        "profile": profile if profile is not None else {},
        "flow": flow,
        "run": run,
    }
