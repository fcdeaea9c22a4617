"""Privacy (docs/privacy.md): deletion requests, suppressions and exports.

- ``POST /api/v1/privacy-requests`` ``{"kind": "delete", "profile_id"|"user_id"|"email": ...}``
  and its shortcut ``POST /api/v1/profiles/{id}/delete``: 201 with the request, run as a job;
  ``GET /api/v1/privacy-requests[/{id}]``: its status per system.
- ``POST|GET /api/v1/suppressions``, ``DELETE /api/v1/suppressions/{id}``: suppressed
  people, shown as keyed hashes, never values.
- ``GET /api/v1/profiles/{id}/export``: everything held about the person, one document.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from renkei.api.auth import require
from renkei.api.pagination import Page
from renkei.hub import Hub
from renkei.security.tokens import Principal
from renkei.usecases import privacy

router = APIRouter(tags=["privacy"])
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


class SystemOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: Literal["done", "failed", "not_applicable"]
    reason: str | None = None


class PrivacyRequestOut(BaseModel):
    id: str
    kind: Literal["delete"]
    status: Literal["pending", "running", "done", "failed"]
    profile_id: str | None
    events_mode: Literal["delete", "scrub"]
    systems: dict[str, SystemOut] = Field(
        description="per system (renkei, then each connection by name): done (with counts), "
        "failed (with the reason) or not_applicable"
    )
    error: str | None
    created_at: str
    updated_at: str
    finished_at: str | None


class PrivacyRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["delete"]
    profile_id: str | None = Field(None, min_length=1, max_length=320)
    user_id: str | None = Field(None, min_length=1, max_length=320)
    email: str | None = Field(None, min_length=1, max_length=320)
    events: Literal["delete", "scrub"] | None = Field(
        None,
        description="delete the person's events or scrub their personal fields "
        "(default: RENKEI_PRIVACY_EVENTS)",
    )


class DeleteProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: Literal["delete", "scrub"] | None = None


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["user_id", "anonymous_id", "email"]
    value: str = Field(min_length=1, max_length=320)


class SuppressionOut(BaseModel):
    id: str
    kind: str
    value_hash: str = Field(description="HMAC-SHA256 of kind:value under Renkei's privacy key")
    covers: int = Field(description="other identities of the person's profile also suppressed")
    created_at: str


_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such profile, request or suppression."}
}


@router.post("/api/v1/privacy-requests", status_code=201, responses=_NOT_FOUND, tags=["privacy"])
async def create_request(
    body: PrivacyRequestIn, request: Request, principal: Writer
) -> PrivacyRequestOut:
    """Delete a person everywhere: Renkei's profile, identities, events (or their personal
    fields), deliveries and flow runs, then each connection's copy through its vendor's
    deletion API. Runs as a job; follow it at ``GET /api/v1/privacy-requests/{id}``."""
    created = await privacy.request_deletion(
        _hub(request),
        principal,
        profile_id=body.profile_id,
        user_id=body.user_id,
        email=body.email,
        events=body.events,
    )
    return PrivacyRequestOut(**created.to_dict())


@router.post("/api/v1/profiles/{profile_id}/delete", status_code=201, responses=_NOT_FOUND)
async def delete_profile(
    profile_id: str, request: Request, principal: Writer, body: DeleteProfileIn | None = None
) -> PrivacyRequestOut:
    """The shortcut for ``POST /api/v1/privacy-requests`` with this profile id."""
    created = await privacy.request_deletion(
        _hub(request), principal, profile_id=profile_id, events=body.events if body else None
    )
    return PrivacyRequestOut(**created.to_dict())


@router.get("/api/v1/privacy-requests")
async def list_requests(
    request: Request, principal: Reader, limit: int | None = None, cursor: str | None = None
) -> Page[PrivacyRequestOut]:
    listed = await privacy.list_requests(_hub(request), principal, limit=limit, cursor=cursor)
    return Page(
        data=[PrivacyRequestOut(**item.to_dict()) for item in listed],
        next_cursor=listed.next_cursor,
    )


@router.get("/api/v1/privacy-requests/{request_id}", responses=_NOT_FOUND)
async def get_request(request_id: str, request: Request, principal: Reader) -> PrivacyRequestOut:
    found = await privacy.get_request(_hub(request), principal, request_id)
    return PrivacyRequestOut(**found.to_dict())


@router.post("/api/v1/suppressions", status_code=201, responses={200: {"model": SuppressionOut}})
async def create_suppression(
    body: SuppressionIn, request: Request, response: Response, principal: Writer
) -> SuppressionOut:
    """Suppress a person: their next events are dropped at ingest (counted in
    ``renkei_ingest_suppressed_events_total``, not stored) and nothing is sent about them.
    The value is kept only as a keyed hash. Suppressing again answers 200 with the same."""
    found, created = await privacy.suppress(
        _hub(request), principal, kind=body.kind, value=body.value
    )
    if not created:
        response.status_code = 200
    return SuppressionOut(**found.to_dict())  # type: ignore[arg-type]


@router.get("/api/v1/suppressions")
async def list_suppressions(
    request: Request, principal: Reader, limit: int | None = None, cursor: str | None = None
) -> Page[SuppressionOut]:
    listed = await privacy.list_suppressions(_hub(request), principal, limit=limit, cursor=cursor)
    return Page(
        data=[SuppressionOut(**item.to_dict()) for item in listed],  # type: ignore[arg-type]
        next_cursor=listed.next_cursor,
    )


@router.delete("/api/v1/suppressions/{suppression_id}", status_code=204, responses=_NOT_FOUND)
async def lift_suppression(suppression_id: str, request: Request, principal: Writer) -> None:
    """Lift a suppression (audited): the person's events are stored again from now on."""
    await privacy.lift_suppression(_hub(request), principal, suppression_id)


@router.get("/api/v1/profiles/{profile_id}/export", responses=_NOT_FOUND)
async def export_profile(profile_id: str, request: Request, principal: Reader) -> dict[str, Any]:
    """Everything Renkei holds about the person: profile, identities, traits (with when
    each changed, and their history from identify events) and every event."""
    return await privacy.export_profile(_hub(request), principal, profile_id)
