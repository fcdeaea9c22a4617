"""``GET /api/v1/audit``: the audit trail, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from renkei.api.auth import require
from renkei.api.pagination import Page
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
    listed = await audit_entries(
        hub, principal, limit=limit, cursor=cursor, action=action, target_id=target_id
    )
    return Page(data=[AuditEntry(**entry) for entry in listed], next_cursor=listed.next_cursor)
