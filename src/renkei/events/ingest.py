"""Storing ingested events: group commit, backpressure, and the per-process source caches.

Concurrent requests share transactions. Each request hands its events to
:meth:`GroupCommitter.store` and waits; one committer task takes everything pending (up to
``RENKEI_INGEST_MAX_GROUP_EVENTS``) and stores it in one transaction: the new events are
admitted and fanned out to endpoints and flows (``events.log.admit_events``), resolved to
profiles, and written (``write_admitted``; with one writer, together with the commit, beside
the event loop). Only then are the requests woken. A request is therefore acknowledged only after
its commit, and while one commit runs the next group gathers: the busier it gets, the
bigger the groups, the fewer the commits.

When more than ``RENKEI_INGEST_MAX_PENDING_EVENTS`` wait, new requests get
:class:`Overloaded` (the HTTP layer answers 503 with ``Retry-After``) instead of an ack
that storage could not honour. When a group's transaction fails for a reason other than
the database being unreachable, each request of the group is retried alone, so one bad
request cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.errors import Forbidden
from renkei.events import profiles
from renkei.events.envelope import Event
from renkei.events.errors import IngestError, InvalidEvent, Unauthorized
from renkei.events.log import admit_events, prepare_rows, write_admitted
from renkei.events.metrics import COMMIT_SECONDS, GROUP_EVENTS, OVERLOADED
from renkei.events.plan import PlanCatalog, enforce
from renkei.events.segment import Limits
from renkei.events.sources import HookSource, load_hook_source, lookup_write_key
from renkei.events.violations import ViolationRecorder
from renkei.ids import new_id
from renkei.lookups import LookupCache
from renkei.observability import tracing
from renkei.store.errors import sqlstate
from renkei.store.event_writes import PreparedRow

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = [
    "GroupCommitter",
    "IngestService",
    "NotStorable",
    "Overloaded",
    "SourceDisabled",
    "StorageUnavailable",
    "StoreExtra",
    "check_backlog",
    "check_storable",
    "new_event_id",
]

log = structlog.get_logger("renkei.ingest")

StoreExtra = Callable[[AsyncConnection, frozenset[str]], Awaitable[None]]
"""Runs in the group's transaction after the events are stored; gets the new event ids."""


def new_event_id() -> str:
    """``evt_`` + a ULID (:func:`renkei.ids.new_id`): the id of an event sent without one."""
    return new_id("evt")


_ATTEMPTS = 3
BACKLOG_RETRY_SECONDS = 1
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
# Column widths of ``events`` (checked here: not every backend enforces them).
_WIDTHS = (("id", 255), ("type", 200), ("name", 255), ("user_id", 255), ("anonymous_id", 255))
_EMAIL_WIDTH = 320
_SHORTEST = min(width for _, width in _WIDTHS)


class Overloaded(Exception):
    """Storage is behind: try again after ``retry_after`` seconds."""

    def __init__(
        self, retry_after: int = 1, message: str = "ingest is overloaded; retry shortly"
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def check_backlog(hub: Core) -> None:
    """Raise :class:`Overloaded` while the deliveries due and unsent reach their bound
    (``RENKEI_DELIVERY_MAX_BACKLOG``): refused now rather than accepted and sent late."""
    if hub.backlog.full():
        OVERLOADED.inc()
        raise Overloaded(
            BACKLOG_RETRY_SECONDS,
            f"deliveries are behind ({hub.backlog.estimate()} due, "
            f"bound {hub.backlog.limit}); retry shortly",
        )


class StorageUnavailable(Exception):
    """The database could not be reached or refused the transaction (503)."""


class NotStorable(IngestError):
    """The database refused this request's data (e.g. a NUL character in a JSONB column)."""

    default_code = "not_storable"


class SourceDisabled(IngestError, Forbidden):
    default_code = "source_disabled"


def check_storable(events: Sequence[Event]) -> None:
    """Refuse values wider than their columns with a 400-class error, before queueing."""
    for index, event in enumerate(events):
        if (
            len(event.id) <= _SHORTEST
            and len(event.type) <= _SHORTEST
            and len(event.name or "") <= _SHORTEST
            and len(event.user_id or "") <= _SHORTEST
            and len(event.anonymous_id or "") <= _SHORTEST
            and len(event.email or "") <= _EMAIL_WIDTH
        ):
            continue  # the usual case, checked without a loop over the columns
        for name, width in _WIDTHS:
            value = getattr(event, name)
            if value is not None and len(value) > width:
                raise InvalidEvent(
                    f"{name} is longer than {width} characters",
                    code="field_too_long",
                    details={"field": name, "index": index, "limit": width},
                )
        if event.email is not None and len(event.email) > _EMAIL_WIDTH:
            event.email = None  # derived from traits; too long to be an address


@dataclass(slots=True)
class _Unit:
    events: Sequence[Event]
    after_store: StoreExtra | None
    future: asyncio.Future[list[Event]]
    size: int
    rows: list[PreparedRow] | None


class GroupCommitter:
    def __init__(self, hub: Core, *, max_pending: int, max_group: int, committers: int = 1) -> None:
        self._hub = hub
        self.max_pending = max_pending
        self.max_group = max_group
        # A second committer would only queue behind the first for the one writer.
        self.committers = 1 if hub.database.single_writer else committers
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[_Unit] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self._pending = 0

    @property
    def pending_events(self) -> int:
        return self._pending

    async def store(self, events: Sequence[Event], extra: StoreExtra | None = None) -> list[Event]:
        """Store ``events`` (and run ``extra``) in the next group; returns the new ones."""
        loop = self._start()
        size = max(1, len(events))
        if self._pending and self._pending + size > self.max_pending:
            OVERLOADED.inc()
            raise Overloaded()
        future: asyncio.Future[list[Event]] = loop.create_future()
        # Made now, while the previous group's insert runs beside the loop, not in the next
        # group's transaction.
        rows = prepare_rows(self._hub.database, events)
        self._queue.append(_Unit(events, extra, future, size, rows))
        self._pending += size
        self._wake.set()
        if not tracing.ENABLED:
            return await future
        started = tracing.now_ns()
        fresh = await future
        for event in fresh:
            tracing.record(
                "renkei.ingest",
                event_id=event.id,
                start_ns=started,
                root=True,
                attributes={"renkei.event.type": event.type, "renkei.source.id": event.source_id},
            )
        return fresh

    def _start(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._running:
            return loop
        if self._loop is not loop:
            # A hub reused under a new event loop (tests, one-shot CLI runs): start afresh.
            self._loop, self._queue, self._pending = loop, deque(), 0
            self._wake = asyncio.Event()
            self._tasks = []
        if len(self._tasks) < self.committers or any(task.done() for task in self._tasks):
            self._tasks = [task for task in self._tasks if not task.done()]
            while len(self._tasks) < self.committers:
                task = loop.create_task(self._run(), name="renkei-ingest-committer")
                task.add_done_callback(self._stopped)
                self._tasks.append(task)
        self._running = True
        return loop

    async def open(self) -> None:
        """Start the committers on the hub's event loop (``hub.start``)."""
        self._start()

    async def close(self) -> None:
        """Stop the committers (``hub.stop``, once requests and the worker are done): what is
        still queued fails as shutting down rather than waiting for ever."""
        if self._loop is not asyncio.get_running_loop():
            return  # started under another loop (a test's), which took its tasks with it
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while self._queue:
            unit = self._queue.popleft()
            self._pending -= unit.size
            _fail(unit, StorageUnavailable("shutting down"))

    def _stopped(self, _: asyncio.Task[None]) -> None:
        self._running = False  # the next store() looks the committers over again

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            group = [self._queue.popleft()]
            size = group[0].size
            while self._queue and size + self._queue[0].size <= self.max_group:
                unit = self._queue.popleft()
                group.append(unit)
                size += unit.size
            try:
                await self._commit(group)
            except asyncio.CancelledError:
                for unit in group:
                    _fail(unit, StorageUnavailable("shutting down"))
                raise
            except Exception:  # never let the committer die
                log.exception("ingest.commit_crashed")
                for unit in group:
                    _fail(unit, StorageUnavailable("commit failed"))
            finally:
                self._pending -= size

    async def _commit(self, group: list[_Unit]) -> None:
        try:
            fresh = await self._transaction(group)
        except Exception as exc:
            if len(group) > 1 and not _unavailable(exc):
                for unit in group:  # isolate the request at fault
                    await self._commit([unit])
                return
            error = _translate(exc)
            for unit in group:
                _fail(unit, error)
            return
        remaining = {event.id for event in fresh}
        for unit in group:
            mine = []
            for event in unit.events:
                if event.id in remaining:
                    remaining.discard(event.id)
                    mine.append(event)
            if not unit.future.done():
                unit.future.set_result(mine)

    async def _transaction(self, group: list[_Unit]) -> list[Event]:
        hub = self._hub
        events = [event for unit in group for event in unit.events]
        rows: dict[str, PreparedRow] = {}
        for unit in group:
            if unit.rows is not None:
                for event, row in zip(unit.events, unit.rows, strict=True):
                    rows.setdefault(event.id, row)
        for attempt in range(1, _ATTEMPTS + 1):
            started = time.perf_counter()
            started_ns = tracing.now_ns() if tracing.ENABLED else 0
            try:
                async with hub.database.transaction() as tx:
                    admitted = await admit_events(hub, tx, events, rows=rows)
                    fresh = admitted.events
                    if fresh:
                        await profiles.apply_events(tx, fresh, now=hub.clock.now())
                    fresh_ids = frozenset(event.id for event in fresh)
                    for unit in group:
                        if unit.after_store is not None:
                            await unit.after_store(tx, fresh_ids)
                    # Last: with one writer, the events' insert and the commit are one call
                    # beside the event loop, which meanwhile reads the next requests.
                    await write_admitted(tx, admitted, and_commit=True)
            except profiles.IdentityRace:
                if attempt == _ATTEMPTS:
                    raise
                continue
            except DBAPIError as exc:
                if attempt == _ATTEMPTS or sqlstate(exc) not in _RETRYABLE_SQLSTATES:
                    raise
                continue
            COMMIT_SECONDS.observe(time.perf_counter() - started)
            GROUP_EVENTS.observe(len(events))
            if tracing.ENABLED:
                for event in fresh:
                    tracing.record(
                        "renkei.group_commit",
                        event_id=event.id,
                        start_ns=started_ns,
                        attributes={"renkei.group.events": len(events), "renkei.attempt": attempt},
                    )
            return fresh
        raise AssertionError("unreachable")


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _translate(exc: Exception) -> Exception:
    if _unavailable(exc):
        log.error("ingest.storage_unavailable", error=type(exc).__name__)
        return StorageUnavailable(str(type(exc).__name__))
    if isinstance(exc, DBAPIError):
        log.warning("ingest.not_storable", error=type(exc.orig).__name__)
        return NotStorable("the database refused this data", details={"sqlstate": sqlstate(exc)})
    log.error("ingest.commit_failed", error=repr(exc))
    return exc


def _fail(unit: _Unit, error: BaseException) -> None:
    if not unit.future.done():
        unit.future.set_exception(error)


class IngestService:
    """Per-process ingest state: limits, the committer, and short-lived source caches.

    Cached lookups expire after ``RENKEI_INGEST_SOURCE_CACHE_SECONDS`` so a change made on
    another node (a disabled source, a rotated write key) applies within that time; changes
    made through this process apply at once (:meth:`invalidate`).
    """

    def __init__(self, hub: Core) -> None:
        settings = hub.settings
        self.hub = hub
        self.limits = Limits(
            max_event_bytes=settings.ingest_max_event_bytes,
            max_batch_bytes=settings.ingest_max_batch_bytes,
            max_batch_events=settings.ingest_max_batch_events,
        )
        self.committer = GroupCommitter(
            hub,
            max_pending=settings.ingest_max_pending_events,
            max_group=settings.ingest_max_group_events,
            committers=settings.ingest_committers,
        )
        ttl = settings.ingest_source_cache_seconds
        self._write_keys: LookupCache[tuple[str, bool, str | None] | None] = LookupCache(ttl)
        self.plan = PlanCatalog(hub, refresh_seconds=ttl)
        self.violations = ViolationRecorder(hub)
        self._hooks: LookupCache[HookSource | None] = LookupCache(ttl)

    def invalidate(self) -> None:
        self._write_keys.clear()
        self._hooks.clear()

    async def source_for_write_key(self, write_key: str) -> str:
        """The id of the enabled tracking source with this key; raises 401/403 errors."""
        return (await self.tracking_source(write_key))[0]

    async def tracking_source(self, write_key: str) -> tuple[str, str | None]:
        """``(id, plan mode)`` of the enabled tracking source with this key; 401/403 errors."""
        found = await self._write_keys.get(write_key, self._lookup_write_key)
        if found is None:
            raise Unauthorized("unknown write key", code="invalid_write_key")
        source_id, enabled, plan_mode = found
        if not enabled:
            raise SourceDisabled("this source is disabled")
        return source_id, plan_mode

    async def hook_source(self, source_id: str) -> HookSource | None:
        return await self._hooks.get(source_id, self._load_hook_source)

    async def _lookup_write_key(self, write_key: str) -> tuple[str, bool, str | None] | None:
        async with self.hub.database.read() as connection:
            return await lookup_write_key(connection, write_key)

    async def _load_hook_source(self, source_id: str) -> HookSource | None:
        async with self.hub.database.read() as connection:
            return await load_hook_source(connection, self.hub.keyring, source_id)

    async def store(self, events: Sequence[Event], extra: StoreExtra | None = None) -> list[Event]:
        """Durably store ``events`` (deduplicated, fanned out, profiles resolved)."""
        check_storable(events)
        check_backlog(self.hub)
        return await self.committer.store(events, extra)

    async def store_tracked(
        self, events: Sequence[Event], source_id: str, plan_mode: str | None
    ) -> Sequence[Event]:
        """:meth:`store` what a tracking source received, once its plan (if the source has
        a mode) kept, trimmed or dropped each event; returns the events stored."""
        if plan_mode is not None:
            check_storable(events)  # a request refused for its widths records no violation
            plan = await self.plan.get()
            events = enforce(plan, plan_mode, source_id, events, self.violations.record)
            if not events:
                return events
        await self.store(events)
        return events
