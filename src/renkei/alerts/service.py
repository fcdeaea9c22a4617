"""``hub.alerts``: read, acknowledge and resolve alerts (the use cases' entry point)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.alerts import model
from renkei.alerts.evaluator import Evaluated, evaluate
from renkei.alerts.model import Alert
from renkei.errors import Conflict, NotFound

if TYPE_CHECKING:
    from renkei.connectors.health import ConnectionHealth
    from renkei.core import Core

__all__ = ["Alerts"]


class Alerts:
    def __init__(self, hub: Core, health: ConnectionHealth) -> None:
        self.hub = hub
        self.health = health

    async def list(
        self, *, limit: int, after: str | None, status: str | None, kind: str | None
    ) -> list[Alert]:
        async with self.hub.database.read() as connection:
            return await model.list_page(
                connection, limit=limit, after=after, status=status, kind=kind
            )

    async def get(self, alert_id: str, connection: AsyncConnection | None = None) -> Alert:
        if connection is not None:
            found = await model.find(connection, alert_id)
        else:
            async with self.hub.database.read() as reader:
                found = await model.find(reader, alert_id)
        if found is None:
            raise NotFound("alert", alert_id)
        return found

    async def acknowledge(self, tx: AsyncConnection, alert_id: str) -> Alert:
        """Someone is on it; acknowledging twice changes nothing, a resolved alert refuses."""
        if not await model.acknowledge(self.hub, tx, alert_id):
            alert = await self.get(alert_id, tx)
            if alert.status == "resolved":
                raise Conflict(f"alert {alert_id} is resolved", code="alert_resolved")
        return await self.get(alert_id, tx)

    async def resolve(self, tx: AsyncConnection, alert_id: str) -> Alert:
        """Resolved by hand (``alert.resolved`` once); resolving twice changes nothing. The
        same problem seen again opens a new alert."""
        await model.resolve(self.hub, tx, alert_id)
        return await self.get(alert_id, tx)

    async def evaluate(self) -> Evaluated:
        return await evaluate(self.hub, self.health)
