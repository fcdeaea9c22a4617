"""The webhooks service: what the API, the CLI and the tasks share in one process.

``hub.webhooks`` is a :class:`Webhooks`; its methods are the operations that
need more than one table or the network: test sends, resend, recover, resume.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.delivery.coalescing import Coalescer
from renkei.delivery.deliver import DeliveryRow, attempt_row, load_deliveries, send_once
from renkei.delivery.endpoints import get_endpoint, set_disabled
from renkei.delivery.event_types import EventType, example_for, get_event_type
from renkei.delivery.fanout import send_job
from renkei.delivery.ordering import activate_lanes
from renkei.delivery.problems import (
    ConflictProblem,
    ExpiredProblem,
    InvalidProblem,
    NotFoundProblem,
)
from renkei.delivery.publishing import check_event_type_name
from renkei.delivery.queries import deliveries_of_event, event_stored
from renkei.delivery.recorder import Recorder
from renkei.delivery.targets import Targets
from renkei.delivery.transport import Transport, transport_from_settings
from renkei.delivery.verdicts import classify
from renkei.egress.failures import ErrorKind
from renkei.events.segment import MESSAGE_TYPES, example_message
from renkei.ids import new_id
from renkei.store.tables.core import events
from renkei.store.tables.webhooks import deliveries, delivery_attempts

if TYPE_CHECKING:
    from renkei.core import Core
    from renkei.events.ingest import IngestService

__all__ = ["TestResult", "Webhooks"]

RESENDABLE = ("failed", "exhausted", "succeeded", "cancelled", "held")
RECOVERABLE = ("failed", "exhausted")
_BATCH = 500


@dataclass(frozen=True)
class TestResult:
    status_code: int | None
    duration_ms: float
    response_body: str
    success: bool
    error: str | None
    event_id: str
    refused: bool = False
    """The target policy refused the URL: Renkei sent nothing (the CLI says ``error:``)."""


class Webhooks:
    def __init__(
        self, hub: Core, ingest: IngestService, transport: Transport | None = None
    ) -> None:
        self.hub = hub
        self.ingest = ingest  # publishing stores its events through ingest, as any event
        self.catalog = Targets(hub)
        self.recorder = Recorder(hub)
        self.delivery_loader: Coalescer[str, DeliveryRow] = Coalescer(
            lambda ids: load_deliveries(self, ids)
        )
        self.transport: Transport = transport or transport_from_settings(hub.settings)

    async def close(self) -> None:
        await self.transport.close()

    async def deliveries_of_event(
        self, connection: AsyncConnection, event_id: str
    ) -> list[dict[str, Any]]:
        """An event's deliveries, oldest first: the event detail's ``deliveries``."""
        return await deliveries_of_event(connection, event_id)

    # -- test send -------------------------------------------------------------------------

    async def send_test(self, endpoint_id: str, event_type: str) -> TestResult:
        """MAAC's "send test": the type's example, sent now, answered synchronously."""
        check_event_type_name(event_type)
        async with self.hub.database.read() as connection:
            endpoint = await get_endpoint(connection, self.hub.keyring, endpoint_id)
            try:
                kind: EventType | None = await get_event_type(connection, event_type)
            except NotFoundProblem:  # publishing takes any type: so does a test send
                kind = None
        snapshot = await self.catalog.get()
        target = snapshot.targets.get(endpoint.id)
        if target is None:
            self.catalog.invalidate()
            target = (await self.catalog.get()).targets.get(endpoint.id)
        if target is None:
            raise NotFoundProblem("endpoint", endpoint_id)
        message_id = new_id("evt_test")
        if kind is not None:
            data = example_for(kind)
        elif event_type in MESSAGE_TYPES:  # the tracking API's types
            data = example_message(event_type)
        else:
            data = {}
        now = self.hub.clock.now()
        response, headers, started = await send_once(
            self, target, message_id, event_type, now, data
        )
        verdict = classify(response, 1, self.hub.settings, self.hub.queue.retry, started)
        async with self.hub.database.transaction() as tx:
            await tx.execute(
                insert(delivery_attempts).values(
                    **attempt_row(
                        delivery_id=None,
                        endpoint_id=endpoint.id,
                        event_id=message_id,
                        attempt=1,
                        trigger="test",
                        url=endpoint.url,
                        started=started,
                        headers=headers,
                        response=response,
                        success=verdict.success,
                    )
                )
            )
        return TestResult(
            status_code=response.status,
            duration_ms=round(response.duration_ms, 3),
            response_body=(response.body or "")[: 20 * 1024],
            success=verdict.success,
            error=response.error,
            event_id=message_id,
            refused=response.result is not None and response.result.error_kind is ErrorKind.POLICY,
        )

    # -- resend, recover, resume -----------------------------------------------------------

    async def resend(self, delivery_id: str) -> dict[str, Any]:
        """Send a delivery again now, whatever became of it; its attempts carry on counting."""
        async with self.hub.database.transaction() as tx:
            row = (
                await tx.execute(select(deliveries).where(deliveries.c.id == delivery_id))
            ).first()
            if row is None:
                raise NotFoundProblem("delivery", delivery_id)
            if row.status == "pending":
                raise ConflictProblem(f"delivery {delivery_id} is already waiting to be sent")
            if not await event_stored(tx, row.event_id):
                raise ExpiredProblem(delivery_id, row.event_id)
            endpoint = await get_endpoint(tx, self.hub.keyring, row.endpoint_id)
            if endpoint.disabled:
                raise ConflictProblem(
                    f"endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); resume it first"
                )
            await self.reopen(tx, [(row.id, row.lane)], row.endpoint_id)
        return {"id": delivery_id, "status": "pending"}

    async def recover(
        self,
        endpoint_id: str,
        since: datetime,
        until: datetime | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Re-send every failed or exhausted delivery of the endpoint created in the range."""
        if until is not None and until <= since:
            raise InvalidProblem("until must be after since", details={"path": "until"})
        async with self.hub.database.read() as connection:
            endpoint = await get_endpoint(connection, self.hub.keyring, endpoint_id)
            if endpoint.disabled:
                raise ConflictProblem(
                    f"endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); resume it first"
                )
            window = [
                deliveries.c.endpoint_id == endpoint_id,
                deliveries.c.created_at >= since,
                deliveries.c.status.in_(RECOVERABLE),
                # One whose event expired has nothing left to send: reopened, it would wait.
                select(events.c.seq).where(events.c.id == deliveries.c.event_id).exists(),
            ]
            if until is not None:
                window.append(deliveries.c.created_at < until)
            total = int(
                (
                    await connection.execute(
                        select(func.count()).select_from(deliveries).where(*window)
                    )
                ).scalar()
                or 0
            )
        done = 0
        last_seq = 0
        if progress:
            progress(0, total)
        while True:
            async with self.hub.database.transaction() as tx:
                rows = (
                    await tx.execute(
                        select(deliveries.c.seq, deliveries.c.id, deliveries.c.lane)
                        .where(*window, deliveries.c.seq > last_seq)
                        .order_by(deliveries.c.seq)
                        .limit(_BATCH)
                    )
                ).all()
                if not rows:
                    break
                last_seq = rows[-1].seq
                await self.reopen(tx, [(row.id, row.lane) for row in rows], endpoint_id)
            done += len(rows)
            if progress:
                progress(done, total)
        return done

    async def resume(self, endpoint_id: str) -> int:
        """Re-enable an endpoint and send what was held while it was paused or disabled."""
        now = self.hub.clock.now()
        async with self.hub.database.transaction() as tx:
            await get_endpoint(tx, self.hub.keyring, endpoint_id)
            await set_disabled(tx, endpoint_id, False, now=now)
        released = 0
        last_seq = 0
        while True:
            async with self.hub.database.transaction() as tx:
                rows = (
                    await tx.execute(
                        select(deliveries.c.seq, deliveries.c.id, deliveries.c.lane)
                        .where(
                            deliveries.c.endpoint_id == endpoint_id,
                            deliveries.c.status == "held",
                            deliveries.c.seq > last_seq,
                        )
                        .order_by(deliveries.c.seq)
                        .limit(_BATCH)
                    )
                ).all()
                if not rows:
                    break
                last_seq = rows[-1].seq
                released += await self.reopen(
                    tx,
                    [(row.id, row.lane) for row in rows],
                    endpoint_id,
                    keep_attempts=True,
                    only_status="held",
                )
        return released

    async def reopen(
        self,
        tx: AsyncConnection,
        rows: list[tuple[str, str | None]],
        endpoint_id: str,
        *,
        keep_attempts: bool = False,
        only_status: str | None = None,
    ) -> int:
        """Make deliveries pending again and give each a job; returns how many.

        ``only_status``: reopen only those still in that status when the update runs, so two
        callers releasing the same held deliveries (a resume and the reconciler) never give
        one delivery two jobs.
        """
        now = self.hub.clock.now()
        values: dict[str, Any] = {"status": "pending", "next_attempt_at": now, "updated_at": now}
        if not keep_attempts:
            values["attempts"] = 0
        statement = update(deliveries).where(
            deliveries.c.id.in_([delivery_id for delivery_id, _ in rows])
        )
        if only_status is not None:
            statement = statement.where(deliveries.c.status == only_status)
        result = await tx.execute(
            statement.values(**values).returning(deliveries.c.id, deliveries.c.lane)
        )
        reopened = [(row.id, row.lane) for row in result]
        lanes = sorted({(endpoint_id, lane) for _, lane in reopened if lane is not None})
        jobs = [send_job(delivery_id) for delivery_id, lane in reopened if lane is None]
        if jobs:
            await self.hub.queue.enqueue_many(tx, jobs)
        if lanes:
            await activate_lanes(self.hub, tx, lanes)
        return len(reopened)
