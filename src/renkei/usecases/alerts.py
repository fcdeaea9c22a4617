"""Alerts: list (filtered by status and kind), get, acknowledge, resolve.

Acknowledging and resolving need ``write`` and are audited in the transaction that makes
the change; ``alert.resolved`` is recorded in it too (once per alert).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from renkei.alerts.model import Alert
from renkei.errors import Invalid
from renkei.store.tables.alerts import ALERT_STATUSES
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["acknowledge_alert", "get_alert", "list_alerts", "resolve_alert"]


async def list_alerts(
    hub: Hub,
    actor: Actor,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Listed[Alert]:
    """Newest first."""
    require(actor, "read")
    if status is not None and status not in ALERT_STATUSES:
        raise Invalid(
            f"status must be one of {', '.join(ALERT_STATUSES)}", details={"path": "status"}
        )
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, str):
        raise Invalid("cursor is not valid", code="invalid_cursor")
    found = await hub.alerts.list(limit=size + 1, after=after, status=status, kind=kind)
    return Listed.cut(found, size, lambda alert: alert.id)


async def get_alert(hub: Hub, actor: Actor, alert_id: str) -> Alert:
    require(actor, "read")
    return await hub.alerts.get(alert_id)


async def acknowledge_alert(hub: Hub, actor: Actor, alert_id: str) -> Alert:
    require(actor, "write")
    async with hub.database.transaction() as tx:
        alert = await hub.alerts.acknowledge(tx, alert_id)
        await hub.audit(tx, actor, "alert.acknowledged", target_type="alert", target_id=alert_id)
    return alert


async def resolve_alert(hub: Hub, actor: Actor, alert_id: str) -> Alert:
    require(actor, "write")
    async with hub.database.transaction() as tx:
        alert = await hub.alerts.resolve(tx, alert_id)
        await hub.audit(tx, actor, "alert.resolved", target_type="alert", target_id=alert_id)
    return alert
