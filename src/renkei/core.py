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
from renkei.store import Database, migrate

__all__ = ["TOKEN_CACHE_SECONDS", "Core", "FanoutHandler"]

log = structlog.get_logger("renkei")

TOKEN_CACHE_SECONDS = 10.0
"""How long a process trusts an API token lookup (a revocation on another node applies within it)."""

FanoutHandler = Callable[[AsyncConnection, Sequence[Any]], Awaitable[None]]


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

    async def start(self, *, with_worker: bool) -> None:
        await migrate(self.database)
        for open_ in self.openers:
            await open_()
        if with_worker:
            self.worker = self.new_worker()
            self._worker_task = asyncio.create_task(
                run_worker(self.worker, handle_signals=False), name="renkei-worker"
            )
            self._worker_task.add_done_callback(_report_worker_end)

    async def stop(self) -> None:
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


def _report_worker_end(task: asyncio.Task[None]) -> None:
    """A worker that ends with an error must say so: the process would go on accepting
    work that nothing sends."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("worker.crashed", error=repr(error), exc_info=error)
