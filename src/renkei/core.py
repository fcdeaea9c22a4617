"""The kernel every feature is built on: settings, clock, database, keyring, the queue and
its registry, fan-out, config sections, closers and the audit log, with the process's
lifecycle (``start``/``stop``).

Features are typed against :class:`Core`, never against the hub that composes them
(``renkei.hub.Hub``), so they cannot reach each other through it: a feature that needs
another gets it in its constructor.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.backoff import Backoff
from renkei.clock import Clock, SystemClock
from renkei.config.resources import ResourceKind
from renkei.lookups import LookupCache
from renkei.observability import tracing
from renkei.queue import JobQueue, TaskRegistry, Wakeup, Worker, WorkerOptions
from renkei.queue.pressure import DueBacklog
from renkei.queue.runner import run_worker
from renkei.security import audit
from renkei.security.keyring import Keyring, load_keyring
from renkei.security.tokens import Principal
from renkei.settings import Settings
from renkei.store import Database
from renkei.store import migrate as migrate_schema

__all__ = ["TOKEN_CACHE_SECONDS", "Core", "FanoutHandler"]

log = structlog.get_logger("renkei")

TOKEN_CACHE_SECONDS = 10.0
"""How long a process trusts an API token lookup (a revocation on another node applies within it)."""

FanoutHandler = Callable[[AsyncConnection, Sequence[Any]], Awaitable[None]]

# How a long-running process waits for a database that was away when it started: soon at
# first (a restart of the server), then every 15 s or so, spread so that a fleet of
# processes does not come back as one burst of connections.
DATABASE_WAIT = Backoff(attempts=sys.maxsize, base=0.5, cap=15.0, jitter=0.2, max_wait=math.inf)


class Core:
    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        tracing.configure()  # on when OTEL_EXPORTER_OTLP_ENDPOINT is set, once per process
        self.database = Database(
            settings.database_url,
            connect_timeout=settings.database_connect_timeout_seconds,
            pool_timeout=settings.database_pool_timeout_seconds,
            statement_timeout=settings.database_statement_timeout_seconds,
        )
        self.keyring: Keyring = load_keyring(settings.secret_key, settings.secret_key_file)
        self.registry = TaskRegistry()
        self.queue = JobQueue(
            self.database,
            self.registry,
            retry=Backoff.from_schedule(settings.retry_schedule, settings.retry_jitter),
            clock=self.clock,
        )
        self.wakeup = Wakeup()
        # Due deliveries (the delivery feature watches its queue): ingest refuses past it.
        self.backlog = DueBacklog(
            self.database, self.queue, self.clock, limit=settings.delivery_max_backlog
        )
        self.fanout: list[FanoutHandler] = []
        self.resources: dict[str, ResourceKind] = {}
        # API tokens by hash (``api/auth.py``); revoking one clears it.
        self.token_cache: LookupCache[Principal | None] = LookupCache(TOKEN_CACHE_SECONDS)
        self.worker: Worker | None = None
        self._worker_task: asyncio.Task[None] | None = None
        # Run by start(), on the loop the process serves from: features open what they keep
        # running (ingest's committers); by stop(), after the worker, they close it again
        # with what they keep open (connections).
        self.openers: list[Callable[[], Awaitable[None]]] = []
        self.closers: list[Callable[[], Awaitable[None]]] = []
        # Why this process is not ready yet (``/readyz``), as (code, message): it waits for
        # the database to migrate the schema, or that start failed. None once started.
        self.not_ready: tuple[str, str] | None = None
        self._starting: asyncio.Task[None] | None = None

    async def fan_out(self, connection: AsyncConnection, events: Sequence[Any]) -> None:
        """Called in the transaction that stores events, so their work commits with them."""
        for handler in self.fanout:
            await handler(connection, events)

    async def audit(
        self,
        connection: AsyncConnection,
        principal: Principal | None,
        action: str,
        *,
        target_type: str | None = None,
        target_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        await audit.record(
            connection,
            actor=f"{principal.token_id} ({principal.name})" if principal else "system",
            action=action,
            at=self.clock.now(),
            target_type=target_type,
            target_id=target_id,
            details=details,
        )

    def new_worker(self, *, run_schedules: bool = True) -> Worker:
        options = WorkerOptions(
            concurrency=self.settings.worker_concurrency,
            batch_size=self.settings.worker_batch_size,
            poll_interval=self.settings.worker_poll_interval,
            lease_seconds=self.settings.lease_seconds,
            heartbeat_seconds=self.settings.worker_heartbeat_seconds,
            dead_after_seconds=self.settings.worker_dead_after_seconds,
            run_schedules=run_schedules,
        )
        # Job handlers that are not closures over a feature find the kernel here.
        return Worker(self.queue, options, wakeup=self.wakeup, services={"hub": self})

    async def start(
        self,
        *,
        with_worker: bool,
        migrate: bool = True,
        wait_for_database: bool = False,
        on_migrated: Callable[[], None] | None = None,
    ) -> None:
        """Migrate the schema (unless ``migrate`` is false: another process did), run the
        openers, and start the worker.

        ``wait_for_database`` (a long-running process: ``renkei serve``, ``renkei worker``):
        a database server that cannot be reached does not fail the start. The process
        starts anyway, not ready (:attr:`not_ready`, ``/readyz``), and migrates in the
        background with capped, jittered backoff until the server answers; its worker starts
        then. Anything else (a migration that fails, a refused login) still fails the start,
        so a supervisor sees a real fault as a process that keeps dying.
        ``on_migrated`` is called once the schema is up to date.
        """
        if migrate:
            try:
                await migrate_schema(self.database)
            except Exception as exc:
                if not (wait_for_database and self.waits_for(exc)):
                    raise
                self.not_ready = _waiting(exc)
                self._starting = asyncio.create_task(
                    self._migrate_when_reachable(exc, with_worker, on_migrated),
                    name="renkei-start",
                )
                self._starting.add_done_callback(_retrieve)  # its failure is logged there
            else:
                if on_migrated is not None:
                    on_migrated()
        for open_ in self.openers:
            await open_()
        if with_worker and self._starting is None:
            self._start_worker()

    def waits_for(self, error: BaseException) -> bool:
        """Whether a long-running process waits out ``error`` at its start: a database
        server that is away (an embedded database's errors are faults)."""
        return self.database.can_wait_out(error)

    async def started(self) -> None:
        """Return once a start that waits for the database is done (raise if it failed)."""
        if self._starting is not None:
            await asyncio.shield(self._starting)

    async def _migrate_when_reachable(
        self, error: Exception, with_worker: bool, on_migrated: Callable[[], None] | None
    ) -> None:
        failures = 1
        while True:
            wait = DATABASE_WAIT.delay(failures) or DATABASE_WAIT.cap
            log.warning(
                "hub.waiting_for_database",
                error=type(error).__name__,
                attempts=failures,
                retry_in_seconds=round(wait, 2),
            )
            await asyncio.sleep(wait)
            try:
                await migrate_schema(self.database)
            except Exception as exc:
                if not self.waits_for(exc):
                    self.not_ready = (
                        "start_failed",
                        f"the start failed once the database answered ({type(exc).__name__}); "
                        "see the log",
                    )
                    log.exception("hub.start_failed")
                    raise
                self.not_ready = _waiting(exc)
                error, failures = exc, failures + 1
                continue
            break
        log.info("hub.database_reached", attempts=failures + 1)
        self.not_ready = None
        if on_migrated is not None:
            on_migrated()
        if with_worker:
            self._start_worker()

    def _start_worker(self) -> None:
        self.worker = self.new_worker()
        self._worker_task = asyncio.create_task(
            run_worker(self.worker, handle_signals=False), name="renkei-worker"
        )
        self._worker_task.add_done_callback(_report_worker_end)

    async def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._starting
        if self.worker is not None and self._worker_task is not None:
            self.worker.stop()
            with contextlib.suppress(Exception):
                await self._worker_task
        for close in self.closers:
            try:
                await close()
            except Exception as exc:  # shutting down: what is left still closes
                log.warning("hub.close_failed", error=repr(exc))
        if tracing.ENABLED:
            await asyncio.to_thread(tracing.flush)
        await self.database.dispose()


def _waiting(error: BaseException) -> tuple[str, str]:
    # The error's type, not its text: a driver's message can quote the connection string.
    return (
        "database_unavailable",
        "the database is unreachable: this process started without it and migrates the "
        f"schema when it answers ({type(error).__name__})",
    )


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


def _report_worker_end(task: asyncio.Task[None]) -> None:
    """A worker that ends with an error must say so: the process would go on accepting
    work that nothing sends."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("worker.crashed", error=repr(error), exc_info=error)
