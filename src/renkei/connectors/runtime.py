"""From a stored connection to a live call: credentials decrypted, database-backed limits,
the process-wide metrics, one shared auth strategy per connection (so an OAuth2 token
is fetched once and reused until it expires, across every job of this process), and
keep-alive connections shared by every call to the same host (``egress/transport.py``).

Waits happen in process only while they are short (``RENKEI_CONNECTOR_MAX_WAIT_SECONDS``);
a longer one surfaces as a :class:`RateLimitedError` or :class:`RetryableError` with its
``retry_after``, for the durable queue to park the work.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import update

from renkei.connectors.call_counts import CallCounts
from renkei.connectors.connections import (
    ConnectionNotFound,
    ConnectionRow,
    EffectiveLimits,
    effective_limits,
    find_connection,
    set_status,
    store_rotated_credential,
)
from renkei.connectors.db_limits import DatabaseDailyQuota, DatabaseRateLimiter, RateUsage
from renkei.connectors.errors import ConfigurationError, ConnectorError, GrantRevoked
from renkei.connectors.health import ConnectionHealth, counts_as_failing
from renkei.connectors.metrics import default_metrics
from renkei.connectors.registry import ConnectorRegistry, default_registry
from renkei.connectors.retry import Backoff
from renkei.connectors.spec import CallContext, Connection, Connector, OperationResult
from renkei.egress.ssrf import TargetPolicy
from renkei.egress.transport import EgressPools
from renkei.events.log import record_events
from renkei.events.system import CONNECTION_NEEDS_REAUTH, short_reason, system_event
from renkei.store.tables.connectors import connections

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["ConnectorRuntime"]

log = structlog.get_logger("renkei.connectors")


class ConnectorRuntime:
    def __init__(self, hub: Core, registry: ConnectorRegistry | None = None) -> None:
        self.hub = hub
        self.registry = (registry or default_registry()).fresh()
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.policy = TargetPolicy.from_settings(hub.settings)
        # Every call's client borrows these: calls to a host reuse its idle connections.
        self.pools = EgressPools()
        self.health = ConnectionHealth(hub)
        # Every call's outcome, per connection, until the flusher adds them to the
        # database (``call_buckets.py``).
        self.counts = CallCounts()

    # --- lookups ---------------------------------------------------------------------------

    async def load(self, ref: str) -> ConnectionRow:
        async with self.hub.database.read() as connection:
            row = await find_connection(connection, ref)
        if row is None:
            raise ConnectionNotFound(ref)
        return row

    def connector(self, row: ConnectionRow) -> Connector:
        return self.registry.get(row.connector)

    def limits(self, row: ConnectionRow) -> EffectiveLimits:
        return effective_limits(self.connector(row).spec, row.limits)

    # --- limits ----------------------------------------------------------------------------

    def _limiter(self, name: str, limits: Any) -> DatabaseRateLimiter:
        settings = self.hub.settings
        return DatabaseRateLimiter(
            self.hub.database,
            name,
            limits,
            clock=self.hub.clock,
            holder=self.holder,
            max_wait=settings.connector_max_wait_seconds,
            lease_seconds=max(300.0, settings.connector_http_timeout_seconds * 4),
        )

    def rate_limiters(self, row: ConnectionRow) -> dict[str | None, DatabaseRateLimiter]:
        """The connection's limiters: None for its main window, else by pool name."""
        limits = self.limits(row)
        limiters: dict[str | None, DatabaseRateLimiter] = {}
        if limits.rate_limit is not None:
            limiters[None] = self._limiter(row.id, limits.rate_limit)
        for pool, limit in limits.pools.items():
            limiters[pool] = self._limiter(f"{row.id}:{pool}", limit)
        return limiters

    def quota(self, row: ConnectionRow) -> DatabaseDailyQuota | None:
        limits = self.limits(row)
        if limits.daily_quota is None:
            return None
        return DatabaseDailyQuota(
            self.hub.database, row.id, limits.daily_quota, clock=self.hub.clock
        )

    # --- calls -----------------------------------------------------------------------------

    def open(self, row: ConnectionRow) -> tuple[Connector, CallContext]:
        connector = self.connector(row)
        settings = self.hub.settings
        limiters = self.rate_limiters(row)
        connection = Connection(
            name=row.name,
            credentials=row.decrypt(self.hub.keyring),
            config=row.config,
            on_rotate=self._rotation(row.id),
        )
        ctx = connector.open(
            connection,
            clock=self.hub.clock,
            rate_limiter=limiters.pop(None, None),
            quota=self.quota(row),
            metrics=default_metrics(),
            backoff=Backoff(max_wait=settings.connector_max_wait_seconds),
            timeout=settings.connector_http_timeout_seconds,
            policy=self.policy,
            transport=self.pools,
        )
        ctx.http.use_pools({str(name): limiter for name, limiter in limiters.items()})
        ctx.http.count_calls(self.counts, row.id)
        return connector, ctx

    async def call(self, row: ConnectionRow, operation: str, input: Any) -> OperationResult:
        """Run ``operation`` once, now. ConfigurationError marks the connection failing."""
        connector, ctx = self.open(row)
        try:
            async with ctx:
                result = await connector.call(operation, input, ctx)
        except ConnectorError as exc:
            if isinstance(exc, GrantRevoked):
                await self.needs_reauth(row, exc)
            elif isinstance(exc, ConfigurationError):
                await self._mark(row, "failing", exc.message)
            if counts_as_failing(exc):
                await self.health.failed(row.id, exc)
            raise
        if row.status != "active":
            await self._mark(row, "active", None)
        if self.health.may_be_failing(row.id) or row.status != "active":
            await self.health.succeeded(row.id)
        return result

    async def test(self, row: ConnectionRow) -> dict[str, Any]:
        """A cheap authenticated call; the answer says whether and why it failed."""
        started = time.perf_counter()  # duration for display only
        outcome: dict[str, Any] = {"connection": row.name, "connector": row.connector}
        try:
            connector, ctx = self.open(row)
            async with ctx:
                details = await connector.test_call(ctx)
        except ConnectorError as exc:
            outcome |= {
                "ok": False,
                "error": {"kind": type(exc).__name__, "code": exc.code, "message": exc.message},
            }
            error: str | None
            if isinstance(exc, GrantRevoked):
                await self.needs_reauth(row, exc)
                status, error = "needs_reauth", exc.message
            elif isinstance(exc, ConfigurationError):
                status, error = "failing", exc.message
            else:
                status, error = row.status, row.last_error
        else:
            outcome |= {"ok": True, "details": details}
            status, error = "active", None
        outcome["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        now = self.hub.clock.now()
        async with self.hub.database.transaction() as tx:
            await tx.execute(
                update(connections)
                .where(connections.c.id == row.id)
                .values(status=status, last_error=error, last_tested_at=now, updated_at=now)
            )
        return outcome

    async def usage(self, row: ConnectionRow) -> dict[str, Any]:
        limits = self.limits(row)
        rate: dict[str, Any] = {}
        for name, limiter in self.rate_limiters(row).items():
            used: RateUsage = await limiter.usage()
            rate[name or "default"] = used.as_dict()
        quota = self.quota(row)
        daily: dict[str, Any] | None = None
        if quota is not None and limits.daily_quota is not None:
            spent = await quota.usage()
            daily = {
                "limit": spent.limit,
                "used": spent.used,
                "remaining": spent.remaining,
                "resets_at": spent.resets_at,
                "reset": limits.daily_quota.reset.strftime("%H:%M"),
                "timezone": limits.daily_quota.timezone,
            }
        return {"rate_limit": rate, "daily_quota": daily, "limits": limits.as_dict()}

    # --- helpers ---------------------------------------------------------------------------

    async def needs_reauth(self, row: ConnectionRow, error: GrantRevoked) -> None:
        """The grant is gone: status ``needs_reauth`` and, once per loss (the first process
        to see it), a ``connection.needs_reauth`` event, which opens an alert."""
        now = self.hub.clock.now()
        async with self.hub.database.transaction() as tx:
            changed = await tx.execute(
                update(connections)
                .where(connections.c.id == row.id, connections.c.status != "needs_reauth")
                .values(status="needs_reauth", last_error=error.message, updated_at=now)
            )
            if changed.rowcount:
                data = {
                    "connection_id": row.id,
                    "connector": row.connector,
                    "reason": short_reason(error.message),
                }
                event = system_event(CONNECTION_NEEDS_REAUTH, data, at=now)
                await record_events(self.hub, tx, [event])
        log.warning("connection.needs_reauth", connection=row.name, code=error.code)

    async def _mark(self, row: ConnectionRow, status: str, error: str | None) -> None:
        async with self.hub.database.transaction() as tx:
            await set_status(tx, row.id, status=status, error=error, now=self.hub.clock.now())
        if status == "failing":
            log.warning("connection.failing", connection=row.name, error=error)

    def _rotation(self, connection_id: str) -> Callable[[str, str], Awaitable[None]]:
        async def persist(field_name: str, value: str) -> None:
            async with self.hub.database.transaction() as tx:
                await store_rotated_credential(
                    tx, connection_id, self.hub.keyring, field_name, value
                )

        return persist
