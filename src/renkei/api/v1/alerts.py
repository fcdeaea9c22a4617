"""``/api/v1/alerts``: problems grouped by cause and subject; acknowledge and resolve."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from renkei.alerts.model import Alert
from renkei.api.auth import require
from renkei.security.tokens import Principal
from renkei.usecases import alerts

if TYPE_CHECKING:
    from renkei.hub import Hub

router = APIRouter(tags=["alerts"])

Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
AlertId = Annotated[str, Path(max_length=40)]


class AlertOut(BaseModel):
    id: str
    kind: str
    subject_type: str
    subject_id: str
    status: Literal["open", "acknowledged", "resolved"]
    first_seen: datetime
    last_seen: datetime
    count: int
    sample: dict[str, Any] | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None


class AlertPage(BaseModel):
    data: list[AlertOut]
    next_cursor: str | None


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _out(alert: Alert) -> AlertOut:
    return AlertOut(**alert.as_dict())


@router.get("/api/v1/alerts", response_model=AlertPage)
async def list_alerts(
    request: Request,
    principal: Reader,
    status: Annotated[Literal["open", "acknowledged", "resolved"] | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> AlertPage:
    """Alerts, newest first: problems grouped by cause (``kind``) and subject."""
    listed = await alerts.list_alerts(
        _hub(request), principal, status=status, kind=kind, limit=limit, cursor=cursor
    )
    return AlertPage(data=[_out(alert) for alert in listed], next_cursor=listed.next_cursor)


@router.get("/api/v1/alerts/{alert_id}", response_model=AlertOut)
async def get_alert(alert_id: AlertId, request: Request, principal: Reader) -> AlertOut:
    """One alert."""
    return _out(await alerts.get_alert(_hub(request), principal, alert_id))


@router.post("/api/v1/alerts/{alert_id}/acknowledge", response_model=AlertOut)
async def acknowledge_alert(alert_id: AlertId, request: Request, principal: Writer) -> AlertOut:
    """Someone is on it: ``open`` → ``acknowledged`` (a resolved alert is a 409)."""
    return _out(await alerts.acknowledge_alert(_hub(request), principal, alert_id))


@router.post("/api/v1/alerts/{alert_id}/resolve", response_model=AlertOut)
async def resolve_alert(alert_id: AlertId, request: Request, principal: Writer) -> AlertOut:
    """Resolve by hand; ``alert.resolved`` is published once (resolving again changes nothing)."""
    return _out(await alerts.resolve_alert(_hub(request), principal, alert_id))
