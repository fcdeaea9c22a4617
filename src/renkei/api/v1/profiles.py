"""``GET /api/v1/profiles?user_id=|email=|anonymous_id=|kind=&value=`` and
``GET /api/v1/profiles/{id}`` (identities, traits with when each last changed, recent events).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from renkei.api.auth import require
from renkei.api.errors import ApiError, NotFound
from renkei.api.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from renkei.api.v1.events import EventOut
from renkei.events.history import event_dict
from renkei.events.profiles import (
    Profile,
    ProfileQuery,
    find_profiles,
    get_profile,
    normalize_identity,
    recent_events,
)
from renkei.security.tokens import Principal

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(prefix="/api/v1/profiles", tags=["profiles"])
Reader = Annotated[Principal, Depends(require("read"))]


class IdentityOut(BaseModel):
    kind: str = Field(description="user_id, anonymous_id, email or a vendor id kind")
    value: str
    created_at: str


class TraitOut(BaseModel):
    value: Any
    updated_at: str = Field(description="when the value last changed (event time)")


class ProfileOut(BaseModel):
    id: str
    identities: list[IdentityOut]
    traits: dict[str, TraitOut]
    created_at: str
    updated_at: str


class ProfileDetailOut(ProfileOut):
    recent_events: list[EventOut]


def _out(profile: Profile) -> dict[str, Any]:
    return profile.to_dict()


@router.get("", responses={404: {"description": "No such connection."}})
async def list_all(
    request: Request,
    _: Reader,
    user_id: str | None = None,
    email: str | None = None,
    anonymous_id: str | None = None,
    kind: str | None = None,
    value: str | None = None,
    vendor_connection: Annotated[str | None, Query(alias="connection")] = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[ProfileOut]:
    """Profiles newest first; an identity filter finds the one profile holding it.

    A vendor id belongs to its connection: ``?kind=marketo_lead_id&value=1&connection=marketo``
    (name or id) finds lead 1 of that connection (stored as ``<connection id>:1``)."""
    hub: Hub = request.app.state.hub
    wanted = [("user_id", user_id), ("email", email), ("anonymous_id", anonymous_id)]
    if (kind is None) != (value is None):
        raise ApiError(400, "kind and value go together", code="invalid_filter")
    if vendor_connection is not None and value is None:
        raise ApiError(400, "connection goes with kind and value", code="invalid_filter")
    if vendor_connection is not None and value is not None:
        from renkei.connectors.connections import find_connection

        async with hub.database.read() as reader:
            found_connection = await find_connection(reader, vendor_connection)
        if found_connection is None:
            raise NotFound("connection", vendor_connection)
        value = f"{found_connection.id}:{value}"
    if kind is not None and value is not None:
        wanted.append((kind, value))
    try:
        keys = [normalize_identity(k, v) for k, v in wanted if v is not None]
    except ValueError as exc:
        raise ApiError(400, str(exc), code="invalid_filter") from exc
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    query = ProfileQuery(
        identities=keys, limit=size + 1, before=str(before) if before is not None else None
    )
    async with hub.database.read() as connection:
        found = await find_profiles(connection, query)
    more = len(found) > size
    found = found[:size]
    return Page(
        data=[ProfileOut(**_out(profile)) for profile in found],
        next_cursor=encode_cursor(found[-1].id) if more and found else None,
    )


@router.get("/{profile_id}")
async def get_one(
    profile_id: str, request: Request, _: Reader, events: int = 20
) -> ProfileDetailOut:
    """A profile; the id of a profile merged into another answers with that other one."""
    hub: Hub = request.app.state.hub
    if events < 0 or events > 200:
        raise ApiError(400, "events must be between 0 and 200", code="invalid_limit")
    async with hub.database.read() as connection:
        profile = await get_profile(connection, profile_id)
        if profile is None:
            raise NotFound("profile", profile_id)
        rows = await recent_events(connection, profile, limit=events) if events else []
    return ProfileDetailOut(
        **_out(profile), recent_events=[EventOut(**event_dict(row)) for row in rows]
    )
