"""``/api/v1/deliveries``: what was sent where, its attempts, and resend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from renkei.api.auth import require
from renkei.api.pagination import Page
from renkei.api.times import UtcDatetime
from renkei.security.tokens import Principal
from renkei.usecases import webhooks

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(prefix="/api/v1/deliveries", tags=["deliveries"])
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]


class ResendOut(BaseModel):
    id: str
    status: str


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


@router.get("")
async def list_all(
    request: Request,
    principal: Reader,
    limit: int | None = None,
    cursor: str | None = None,
    endpoint_id: str | None = None,
    status: str | None = None,
    event_id: str | None = None,
    since: UtcDatetime | None = None,
    until: UtcDatetime | None = None,
) -> Page[dict[str, Any]]:
    listed = await webhooks.list_deliveries(
        _hub(request),
        principal,
        limit=limit,
        cursor=cursor,
        endpoint_id=endpoint_id,
        status=status,
        event_id=event_id,
        since=since,
        until=until,
    )
    return Page(data=listed.items, next_cursor=listed.next_cursor)


@router.get("/{delivery_id}")
async def get_one(delivery_id: str, request: Request, principal: Reader) -> dict[str, Any]:
    return await webhooks.get_delivery(_hub(request), principal, delivery_id)


@router.get("/{delivery_id}/attempts")
async def attempts(delivery_id: str, request: Request, principal: Reader) -> Page[dict[str, Any]]:
    return Page(data=await webhooks.delivery_attempts(_hub(request), principal, delivery_id))


@router.post("/{delivery_id}/resend", status_code=202)
async def resend(delivery_id: str, request: Request, principal: Writer) -> ResendOut:
    return ResendOut(**await webhooks.resend(_hub(request), principal, delivery_id))
