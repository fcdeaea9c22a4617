"""Group commit of attempt results.

Every attempt writes an attempt row, updates its delivery, sometimes touches its endpoint
and publishes operational events. Writing each in its own transaction would cap delivery
at the database's commit rate (with a single writer, one at a time), so attempts finished
at about the same time share one transaction: the first caller writes the batch while
later callers queue behind it, and each caller returns only once its own record is
committed. A task therefore never reports its job done before its attempt is durable.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Update, and_, bindparam, insert, literal_column, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.security.redaction import redact_headers
from renkei.store.config_version import bump_version
from renkei.store.direct import DirectWrite
from renkei.store.tables.webhooks import OPEN_STATUSES, deliveries, delivery_attempts, endpoints

if TYPE_CHECKING:
    from renkei.core import Core
    from renkei.queue import JobContext

__all__ = ["AttemptRecord", "Recorder"]

NOT_FAILING_SECONDS = 1.0
"""How long a success trusts that its endpoint is not failing, as this process last wrote:
another process's failure meanwhile is cleared by the first success after that."""


@dataclass
class AttemptRecord:
    attempt: dict[str, Any]
    """A ``delivery_attempts`` row."""
    delivery: dict[str, Any] | None
    """New values for the delivery: ``status``, ``attempts``, ``next_attempt_at`` ..."""
    endpoint_id: str
    success: bool
    at: datetime
    disable_reason: str | None = None
    """``gone`` after a 410: disable the endpoint."""
    events: list[Event] = field(default_factory=list)
    """Operational events to publish with the record."""
    make_events: Any = None
    """``(reason) -> list[Event]``: the ``endpoint.disabled`` event, if this disables it."""
    job: JobContext | None = None
    """The delivery's job, completed in the same transaction (the attempt finished it):
    one transaction per batch of attempts instead of two (docs/scaling.md)."""


class Recorder:
    def __init__(self, hub: Core) -> None:
        self.hub = hub
        self._pending: dict[
            asyncio.AbstractEventLoop, list[tuple[AttemptRecord, asyncio.Future[bool]]]
        ] = {}
        self._writing: set[asyncio.AbstractEventLoop] = set()
        # Endpoints this process saw not failing, until when (the loop's clock): their
        # next successes skip the statement that would find nothing to clear.
        self._not_failing: dict[str, float] = {}

    async def record(self, item: AttemptRecord) -> bool:
        """Write ``item`` (with whatever else is waiting); True if it disabled the endpoint."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.setdefault(loop, []).append((item, future))
        if loop not in self._writing:
            self._writing.add(loop)
            try:
                await asyncio.sleep(0)
                while self._pending.get(loop):
                    batch = self._pending.pop(loop)
                    await self._write(batch)
            finally:
                self._writing.discard(loop)
        return await future

    async def _write(self, batch: list[tuple[AttemptRecord, asyncio.Future[bool]]]) -> None:
        cleared: set[str] = set()
        try:
            async with self.hub.database.transaction() as connection:
                disabled = await self._write_batch(connection, [item for item, _ in batch], cleared)
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(
                        exc if isinstance(exc, Exception) else RuntimeError(str(exc))
                    )
            if not isinstance(exc, Exception):
                raise
            return
        trusted_until = asyncio.get_running_loop().time() + NOT_FAILING_SECONDS
        for endpoint_id in cleared:
            self._not_failing[endpoint_id] = trusted_until
        for item, future in batch:
            if item.job is not None:
                item.job.committed()
            if not future.done():
                future.set_result(item.endpoint_id in disabled)

    async def _write_batch(
        self, connection: AsyncConnection, items: list[AttemptRecord], cleared: set[str]
    ) -> set[str]:
        await _INSERT_ATTEMPT.executemany(connection, [_scrubbed(item.attempt) for item in items])
        updates = [item.delivery for item in items if item.delivery is not None]
        await _UPDATE_DELIVERY.executemany(
            connection, [{f"b_{key}": value for key, value in row.items()} for row in updates]
        )
        await self.hub.queue.complete_in(
            connection, [item.job.job for item in items if item.job is not None]
        )
        disabled = await self._endpoint_effects(connection, items, cleared)
        events = [event for item in items for event in item.events]
        if disabled:
            await bump_version(connection)
            announced: set[str] = set()
            for item in items:
                reason = disabled.get(item.endpoint_id)
                if reason and item.endpoint_id not in announced and item.make_events is not None:
                    events.extend(item.make_events(reason))
                    announced.add(item.endpoint_id)
        if events:
            await record_events(self.hub, connection, events)
        return set(disabled)

    async def _endpoint_effects(
        self, connection: AsyncConnection, items: list[AttemptRecord], cleared: set[str]
    ) -> dict[str, str]:
        """Track ``failing_since``; disable on 410 or after failing too long. ``cleared``:
        gets the endpoints whose ``failing_since`` this leaves empty."""
        last: dict[str, AttemptRecord] = {}
        gone: dict[str, AttemptRecord] = {}
        for item in items:
            previous = last.get(item.endpoint_id)
            if previous is None or item.at >= previous.at:
                last[item.endpoint_id] = item
            if item.disable_reason is not None:
                gone[item.endpoint_id] = item
        columns = endpoints.c
        disabled: dict[str, str] = {}
        cutoff = timedelta(days=self.hub.settings.endpoint_disable_after_days)
        now = asyncio.get_running_loop().time()
        for endpoint_id, item in last.items():
            if item.success:
                if self._not_failing.get(endpoint_id, 0.0) < now:
                    await connection.execute(_END_FAILING, {"endpoint_id": endpoint_id})
                    cleared.add(endpoint_id)
                continue
            self._not_failing.pop(endpoint_id, None)
            await connection.execute(
                update(endpoints)
                .where(columns.id == endpoint_id, columns.failing_since.is_(None))
                .values(failing_since=item.at)
            )
            stale = await connection.execute(
                update(endpoints)
                .where(
                    columns.id == endpoint_id,
                    columns.disabled.is_(False),
                    columns.failing_since <= item.at - cutoff,
                )
                .values(
                    disabled=True,
                    disabled_reason="failing",
                    disabled_at=item.at,
                    updated_at=item.at,
                )
            )
            if stale.rowcount:
                disabled[endpoint_id] = "failing"
        for endpoint_id, item in gone.items():
            result = await connection.execute(
                update(endpoints)
                .where(columns.id == endpoint_id, columns.disabled.is_(False))
                .values(
                    disabled=True,
                    disabled_reason=item.disable_reason,
                    disabled_at=item.at,
                    updated_at=item.at,
                )
            )
            if result.rowcount:
                disabled[endpoint_id] = item.disable_reason or "gone"
        return disabled


# The statements every batch runs, built once: a statement object keeps its cache key, and
# building and keying them per batch cost more than running them (docs/scaling.md).
def build_delivery_update() -> Update:
    """The update of an attempted delivery's row (executemany, ``b_``-prefixed values);
    bench/statement_build.py times building it per call against :data:`_UPDATE_DELIVERY`."""
    return (
        update(deliveries)
        .where(
            and_(
                deliveries.c.id == bindparam("b_id"),
                # Plain comparisons: an expanding IN can't be used with executemany.
                or_(*(deliveries.c.status == literal_column(f"'{s}'") for s in OPEN_STATUSES)),
            )
        )
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next_attempt_at"),
            last_attempt_at=bindparam("b_last_attempt_at"),
            last_status_code=bindparam("b_last_status_code"),
            last_error=bindparam("b_last_error"),
            updated_at=bindparam("b_last_attempt_at"),
        )
    )


_INSERT_ATTEMPT = DirectWrite(insert(delivery_attempts))
_UPDATE_DELIVERY = DirectWrite(build_delivery_update())
_END_FAILING = (
    update(endpoints)
    .where(endpoints.c.id == bindparam("endpoint_id"), endpoints.c.failing_since.is_not(None))
    .values(failing_since=None)
)


def _scrubbed(attempt: dict[str, Any]) -> dict[str, Any]:
    """The attempt row as stored: a configured header's value never reaches the attempt log,
    whatever the header's name (only what Renkei sets itself stays readable)."""
    headers = attempt.get("request_headers")
    if not headers:
        return attempt
    return {**attempt, "request_headers": redact_headers(headers)}
