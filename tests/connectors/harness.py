"""A hub and a vendor sandbox on one ManualClock, talking over real loopback HTTP.

``Rig.drive()`` runs every due job (``Worker.run_burst``), then moves the clock to the next
job's time (a parked job's rate-limit slot, a batch timer, a quota reset) and repeats
until no job is left: hours of vendor schedule in milliseconds, without sleeping.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from renkei.clock import ManualClock
from renkei.connectors.batching import Submission
from renkei.connectors.connections import ConnectionRow, create_connection
from renkei.connectors.service import ConnectorService
from renkei.hub import Hub
from renkei.queue import Worker
from renkei.sandbox import (
    HubSpotSandbox,
    HubSpotSandboxConfig,
    MarketoSandbox,
    MarketoSandboxConfig,
    create_hubspot_app,
    create_marketo_app,
    serve_in_thread,
)
from renkei.sandbox.hubspot import DEFAULT_TOKEN
from renkei.store.tables import jobs
from renkei.store.tables.connectors import connector_records
from tests.support.server import test_settings

# 09:00 in Chicago on a Monday in winter (CST, UTC-6): Marketo's day resets at 06:00 UTC.
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
MARKETO_RESET = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
UTC_MIDNIGHT = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
MARKETO_CREDENTIALS = {"client_id": "renkei-sandbox", "client_secret": "renkei-sandbox-secret"}
HUBSPOT_CREDENTIALS = {"access_token": DEFAULT_TOKEN}


def rig_settings(database_url: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "connector_max_wait_seconds": 0.0,  # never wait in process on a ManualClock
        "connector_batch_wait_seconds": 1.0,
        "retry_schedule": (5.0, 5.0, 5.0, 5.0),
        "retry_jitter": 0.0,
    }
    values.update(overrides)
    return test_settings(database_url, **values)


class Rig:
    def __init__(self, hub: Hub, clock: ManualClock) -> None:
        self.hub = hub
        self.clock = clock  # drive() moves it; other methods only read it
        self.worker: Worker = hub.new_worker(run_schedules=False)

    @property
    def service(self) -> ConnectorService:
        service: ConnectorService = self.hub.connectors
        return service

    async def connect(
        self,
        name: str,
        connector: str,
        *,
        config: dict[str, Any],
        credentials: dict[str, str],
        limits: dict[str, Any] | None = None,
    ) -> ConnectionRow:
        async with self.hub.database.transaction() as tx:
            return await create_connection(
                tx,
                keyring=self.hub.keyring,
                registry=self.service.registry,
                now=self.clock.now(),
                name=name,
                connector=connector,
                config=config,
                credentials=credentials,
                limits=limits,
            )

    async def submit(self, connection: str, operation: str, records: Sequence[Any]) -> str:
        async with self.hub.database.transaction() as tx:
            return await self.service.submit(tx, connection, operation, records)

    async def next_due(self) -> datetime | None:
        async with self.hub.database.read() as connection:
            due: datetime | None = (
                await connection.execute(
                    select(func.min(jobs.c.run_at)).where(jobs.c.status == "scheduled")
                )
            ).scalar()
        return due

    async def run_due(self) -> int:
        return await self.worker.run_burst()

    async def drive(self, *, until: datetime | None = None, max_rounds: int = 500) -> int:
        """Run jobs and move the clock until none is left (or the next is at ``until``)."""
        for rounds in range(max_rounds):
            await self.worker.run_burst()
            due = await self.next_due()
            if due is None or (until is not None and due >= until):
                return rounds + 1
            self.clock.set(max(due, self.clock.now()))
        raise AssertionError("the work did not finish")

    async def submission(self, submission_id: str) -> Submission:
        found = await self.service.submission(submission_id)
        assert found is not None
        return found

    async def batch_sizes(self, operation: str | None = None) -> list[int]:
        """Records per vendor call, from the batch each record was sent in."""
        query = select(connector_records.c.batch_id, func.count()).where(
            connector_records.c.batch_id.is_not(None)
        )
        if operation is not None:
            query = query.where(connector_records.c.operation == operation)
        async with self.hub.database.read() as connection:
            rows = (await connection.execute(query.group_by(connector_records.c.batch_id))).all()
        return sorted((int(count) for _, count in rows), reverse=True)

    async def job_counts(self) -> Counter[str]:
        async with self.hub.database.read() as connection:
            rows = await connection.execute(
                select(jobs.c.status, func.count()).group_by(jobs.c.status)
            )
            return Counter({status: int(count) for status, count in rows})


@contextlib.asynccontextmanager
async def rig(database_url: str, clock: ManualClock, **settings: Any) -> AsyncIterator[Rig]:
    hub = Hub(rig_settings(database_url, **settings), clock=clock)
    try:
        yield Rig(hub, clock)
    finally:
        await hub.stop()


@contextlib.contextmanager
def marketo_sandbox(clock: ManualClock, **overrides: Any) -> Iterator[tuple[MarketoSandbox, str]]:
    sandbox = create_marketo_app(MarketoSandboxConfig(**overrides), clock)
    with serve_in_thread(sandbox.app) as base_url:
        yield sandbox, base_url


@contextlib.contextmanager
def hubspot_sandbox(clock: ManualClock, **overrides: Any) -> Iterator[tuple[HubSpotSandbox, str]]:
    sandbox = create_hubspot_app(HubSpotSandboxConfig(**overrides), clock)
    with serve_in_thread(sandbox.app) as base_url:
        yield sandbox, base_url


async def http_connection(hub: Hub, name: str, **config: Any) -> ConnectionRow:
    """Store a generic ``http`` connection (no credentials) and load it as the runtime does."""
    runtime = hub.connectors.runtime
    async with hub.database.transaction() as tx:
        await create_connection(
            tx,
            keyring=hub.keyring,
            registry=runtime.registry,
            now=hub.clock.now(),
            name=name,
            connector="http",
            config=config,
            credentials={},
        )
    row: ConnectionRow = await runtime.load(name)
    return row


def leads(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"email": f"lead{n}@example.com", "firstName": "Lead", "lastName": str(n)}
        for n in range(start, start + count)
    ]


def contacts(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"email": f"contact{n}@example.com", "firstname": "Contact", "lastname": str(n)}
        for n in range(start, start + count)
    ]
