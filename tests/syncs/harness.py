"""A hub on a movable clock with a Marketo sandbox on loopback, for sync tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from renkei.clock import ManualClock
from renkei.connectors.connections import create_connection, find_connection
from renkei.events.envelope import Event
from renkei.events.log import record_events
from renkei.events.profiles import ProfileQuery, apply_events, find_profiles
from renkei.hub import Hub
from renkei.ids import new_id
from renkei.sandbox import serve_in_thread
from renkei.sandbox.marketo import MarketoSandbox, MarketoSandboxConfig, create_marketo_app
from renkei.store.tables.core import events, jobs
from renkei.syncs import SyncService
from tests.support.server import test_settings

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
MARKETO_CREDENTIALS = {"client_id": "renkei-sandbox", "client_secret": "renkei-sandbox-secret"}


class SyncRig:
    def __init__(self, hub: Hub, clock: ManualClock) -> None:
        self.hub = hub
        self.clock = clock
        self.worker = hub.new_worker(run_schedules=False)

    @property
    def syncs(self) -> SyncService:
        service: SyncService = self.hub.syncs
        return service

    async def connect(
        self, base_url: str, *, name: str = "marketo", limits: dict[str, Any] | None = None
    ) -> None:
        await self.connect_vendor(
            name,
            {"base_url": base_url, "activity_type_id": "100001"},
            MARKETO_CREDENTIALS,
            connector="marketo",
            limits=limits,
        )

    async def connect_vendor(
        self,
        name: str,
        config: dict[str, Any],
        credentials: dict[str, str],
        *,
        connector: str | None = None,
        limits: dict[str, Any] | None = None,
    ) -> None:
        """A connection to a vendor's sandbox (its connector named like it unless said)."""
        async with self.hub.database.transaction() as tx:
            await create_connection(
                tx,
                keyring=self.hub.keyring,
                registry=self.hub.connectors.registry,
                now=self.clock.now(),
                name=name,
                connector=connector or name,
                config=config,
                credentials=credentials,
                limits=limits,
            )

    async def connection_id(self, name: str) -> str:
        async with self.hub.database.read() as connection:
            row = await find_connection(connection, name)
        assert row is not None, name
        return str(row.id)

    async def identify(
        self, email: str, traits: dict[str, Any], user_id: str | None = None
    ) -> None:
        await self.identify_many([(email, traits, user_id)])

    async def identify_many(
        self, people: Sequence[tuple[str, Mapping[str, Any], str | None]]
    ) -> None:
        now = self.clock.now()
        events = [
            Event(
                id=new_id("evt"),
                type="identify",
                name=None,
                data={"traits": {"email": email, **traits}},
                occurred_at=now,
                received_at=now,
                source_id="src_test",
                user_id=user_id,
                email=email,
            )
            for email, traits, user_id in people
        ]
        async with self.hub.database.transaction() as tx:
            fresh = await record_events(self.hub, tx, events)
            await apply_events(tx, fresh, now=now)

    async def track(self, email: str, name: str, properties: dict[str, Any]) -> str:
        now = self.clock.now()
        event = Event(
            id=new_id("evt"),
            type="track",
            name=name,
            data={"event": name, "properties": properties},
            occurred_at=now,
            received_at=now,
            source_id="src_test",
            email=email,
        )
        async with self.hub.database.transaction() as tx:
            fresh = await record_events(self.hub, tx, [event])
            await apply_events(tx, fresh, now=now)
        return event.id

    async def events_of_type(self, event_type: str) -> list[dict[str, Any]]:
        async with self.hub.database.read() as connection:
            rows = await connection.execute(
                select(events).where(events.c.type == event_type).order_by(events.c.id)
            )
            return [dict(row._mapping) for row in rows]

    async def run(self) -> int:
        total = 0
        while ran := await self.worker.run_burst():
            total += ran
        return total

    async def pending_jobs(self) -> int:
        async with self.hub.database.read() as connection:
            found = await connection.execute(
                select(func.count()).select_from(jobs).where(jobs.c.status == "scheduled")
            )
            return int(found.scalar_one())

    async def profile(self, email: str) -> Any:
        async with self.hub.database.read() as connection:
            found = await find_profiles(connection, ProfileQuery(identities=[("email", email)]))
        return found[0] if found else None


@contextlib.asynccontextmanager
async def sync_rig(
    database_url: str, clock: ManualClock, **settings: Any
) -> AsyncIterator[SyncRig]:
    values: dict[str, Any] = {
        "connector_max_wait_seconds": 0.0,
        "retry_schedule": (5.0, 5.0, 5.0, 5.0),
        "retry_jitter": 0.0,
    }
    values.update(settings)
    hub = Hub(test_settings(database_url, **values), clock=clock)
    from renkei.store import migrate

    await migrate(hub.database)
    try:
        yield SyncRig(hub, clock)
    finally:
        await hub.database.dispose()


@contextlib.asynccontextmanager
async def sandbox_rig(
    database_url: str, make: Callable[[ManualClock], Any]
) -> AsyncIterator[tuple[Any, str, SyncRig]]:
    """A vendor sandbox made by ``make`` on the rig's clock, served on loopback, and the
    rig: ``(sandbox, base_url, rig)``."""
    clock = ManualClock(START)
    sandbox = make(clock)
    with serve_in_thread(sandbox.app) as base_url:
        async with sync_rig(database_url, clock) as rig:
            yield sandbox, base_url, rig


def push_sync(
    name: str,
    connection: str,
    obj: str,
    mapping: list[dict[str, str]],
    *,
    trigger: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A push sync's definition: a mapping, every half hour unless ``trigger`` says."""
    return {
        "name": name,
        "connection": connection,
        "direction": "push",
        "object": obj,
        "config": {"mapping": mapping},
        "trigger": trigger or {"every_seconds": 1800},
    }


@contextlib.contextmanager
def marketo(clock: ManualClock, **overrides: Any) -> Iterator[tuple[MarketoSandbox, str]]:
    sandbox = create_marketo_app(MarketoSandboxConfig(**overrides), clock)
    with serve_in_thread(sandbox.app) as base_url:
        yield sandbox, base_url
