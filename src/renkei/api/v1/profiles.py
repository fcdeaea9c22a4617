"""``GET /api/v1/profiles?user_id=|email=|anonymous_id=|kind=&value=`` and
``GET /api/v1/profiles/{id}`` (identities, traits with when each last changed, recent events).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from renkei.api.auth import require
from renkei.api.pagination import Page
from renkei.api.v1.events import EventOut
from renkei.security.tokens import Principal
from renkei.usecases import profiles

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


@router.get("", responses={404: {"description": "No such connection."}})
async def list_all(
    request: Request,
    principal: Reader,
    user_id: str | None = None,
    email: str | None = None,
    anonymous_id: str | None = None,
    kind: str | None = None,
    value: str | None = None,
    vendor_connection: Annotated[str | None, Query(alias="connection")] = None,
    has: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[ProfileOut]:
    """Profiles newest first; an identity filter finds the one profile holding it.

    A vendor id belongs to its connection: ``?kind=marketo_lead_id&value=1&connection=marketo``
    (name or id) finds lead 1 of that connection (stored as ``<connection id>:1``).
    ``?has=marketo_lead_id&connection=marketo``: every profile linked to a lead of that
    connection; ``?has=marketo_cookie``: every profile linked by a Munchkin cookie."""
    listed = await profiles.list_profiles(
        request.app.state.hub,
        principal,
        user_id=user_id,
        email=email,
        anonymous_id=anonymous_id,
        kind=kind,
        value=value,
        connection=vendor_connection,
        has=has,
        limit=limit,
        cursor=cursor,
    )
    return Page(
        data=[ProfileOut(**profile.to_dict()) for profile in listed],
        next_cursor=listed.next_cursor,
    )


@router.get("/{profile_id}")
async def get_one(
    profile_id: str, request: Request, principal: Reader, events: int = 20
) -> ProfileDetailOut:
    """A profile; the id of a profile merged into another answers with that other one."""
    detail = await profiles.get_profile(request.app.state.hub, principal, profile_id, events=events)
    return ProfileDetailOut(
        **detail.profile.to_dict(),
        recent_events=[EventOut(**event) for event in detail.recent_events],
    )
