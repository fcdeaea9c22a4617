"""``/api/v1/deliveries``: what was sent where, its attempts, and resend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from renkei.api.auth import require
from renkei.api.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from renkei.api.times import UtcDatetime
from renkei.delivery.queries import get_delivery, list_attempts, list_deliveries
from renkei.security.tokens import Principal

if TYPE_CHECKING:
    from renkei.delivery.service import Webhooks
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
    _: Reader,
    limit: int | None = None,
    cursor: str | None = None,
    endpoint_id: str | None = None,
    status: str | None = None,
    event_id: str | None = None,
    since: UtcDatetime | None = None,
    until: UtcDatetime | None = None,
) -> Page[dict[str, Any]]:
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    async with _hub(request).database.read() as connection:
        rows = await list_deliveries(
            connection,
            limit=size + 1,
            before_seq=int(before) if before is not None else None,
            endpoint_id=endpoint_id,
            status=status,
            event_id=event_id,
            since=since,
            until=until,
        )
    more = len(rows) > size
    rows = rows[:size]
    return Page(
        data=[row for _, row in rows],
        next_cursor=encode_cursor(rows[-1][0]) if more and rows else None,
    )


@router.get("/{delivery_id}")
async def get_one(delivery_id: str, request: Request, _: Reader) -> dict[str, Any]:
    async with _hub(request).database.read() as connection:
        return await get_delivery(connection, delivery_id)


@router.get("/{delivery_id}/attempts")
async def attempts(delivery_id: str, request: Request, _: Reader) -> Page[dict[str, Any]]:
    async with _hub(request).database.read() as connection:
        await get_delivery(connection, delivery_id)
        return Page(data=await list_attempts(connection, delivery_id=delivery_id, limit=500))


@router.post("/{delivery_id}/resend", status_code=202)
async def resend(delivery_id: str, request: Request, principal: Writer) -> ResendOut:
    hub = _hub(request)
    webhooks: Webhooks = hub.webhooks
    result = await webhooks.resend(delivery_id)
    async with hub.database.transaction() as tx:
        await hub.audit(
            tx, principal, "delivery.resent", target_type="delivery", target_id=delivery_id
        )
    return ResendOut(**result)
