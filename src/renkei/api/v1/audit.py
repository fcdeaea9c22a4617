"""``GET /api/v1/audit``: the audit trail, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from renkei.api.auth import require
from renkei.api.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from renkei.security.tokens import Principal
from renkei.usecases.audit import list_audit as audit_entries

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditEntry(BaseModel):
    id: str
    at: datetime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any] | None


@router.get("")
async def list_audit(
    request: Request,
    principal: Annotated[Principal, Depends(require("admin"))],
    limit: int | None = None,
    cursor: str | None = None,
    action: str | None = None,
    target_id: str | None = None,
) -> Page[AuditEntry]:
    hub: Hub = request.app.state.hub
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    found = await audit_entries(
        hub,
        principal,
        limit=size + 1,
        before=None if after is None else str(after),
        action=action,
        target_id=target_id,
    )
    rows = [AuditEntry(**entry) for entry in found]
    more = len(rows) > size
    rows = rows[:size]
    return Page(data=rows, next_cursor=encode_cursor(rows[-1].id) if more and rows else None)
