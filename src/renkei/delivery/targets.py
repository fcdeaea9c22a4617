"""The in-memory webhook configuration: endpoints compiled for matching, and schemas.

Fan-out runs for every stored event, so matching must not touch the database: each
process keeps a :class:`TargetSnapshot` (endpoints indexed by event type, filters compiled,
secrets decrypted, event-type validators) and reloads it when the configuration version
moved. The version is read at most once per ``endpoint_refresh_seconds``; a change made
in this process invalidates the snapshot at commit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.delivery.endpoints import Endpoint, endpoint_from_row, signing_secrets
from renkei.events.envelope import Event
from renkei.events.system import ALERT_OPENED, ALERT_RESOLVED
from renkei.expr.filter import Filter, compile_filter
from renkei.expr.paths import MISSING, compile_path
from renkei.store.config_version import CHANGED_FLAG, read_version
from renkei.store.tables.webhooks import endpoints, event_types

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["Target", "TargetSnapshot", "Targets"]

# Operational events are about deliveries; they never produce more operational events.
# Nor do alerts: an on-call endpoint that is down would otherwise open an alert about the
# alert it could not take, forever.
OPERATIONAL_TYPES = frozenset(
    {
        "message.attempt.failing",
        "message.attempt.exhausted",
        "endpoint.disabled",
        ALERT_OPENED,
        ALERT_RESOLVED,
    }
)


@dataclass
class Target:
    """One endpoint, ready to match and to send to."""

    endpoint: Endpoint
    filter: Filter | None
    lane_of: Callable[[object], object] | None
    secrets: list[tuple[str, datetime | None]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.endpoint.id

    def lane_for(self, document: dict[str, Any]) -> str:
        if self.lane_of is None:
            return ""
        value = self.lane_of(document)
        if value is MISSING or value is None:
            return ""
        return str(value)[:255]

    def live_secrets(self, now: datetime) -> list[str]:
        return [s for s, expires_at in self.secrets if expires_at is None or expires_at > now]


@dataclass
class TargetSnapshot:
    version: int
    targets: dict[str, Target]
    by_type: dict[str, list[Target]]
    all_types: list[Target]
    validators: dict[str, Draft202012Validator]
    known_types: dict[str, bool]
    """Registered event type names → archived."""

    def match(self, event: Event) -> list[Target]:
        """Endpoints that want ``event``: by type (a ``track`` event also by its name), then filter."""
        candidates = list(self.all_types)
        candidates.extend(self.by_type.get(event.type, ()))
        if event.type == "track" and event.name:
            candidates.extend(self.by_type.get(event.name, ()))
        if not candidates:
            return []
        seen: set[str] = set()
        matched: list[Target] = []
        document: dict[str, Any] | None = None
        for target in candidates:
            if target.id in seen:
                continue
            seen.add(target.id)
            if target.filter is not None:
                if document is None:
                    document = event.to_dict()
                if not target.filter.matches(document):
                    continue
            matched.append(target)
        return matched


class Targets:
    """The process's :class:`TargetSnapshot`, reloaded when the configuration version moved.

    A snapshot may be old: another process's change shows here only after the next version
    check, and this process's own change only once its reload finished. Matching lives with
    that; a decision to park or drop a delivery does not (see ``deliver.settle_endpoint``):
    it asks the database, and then asks for a snapshot at least as new as what it read
    (``get(min_version=...)``).
    """

    def __init__(self, hub: Core) -> None:
        self.hub = hub
        self._snapshot: TargetSnapshot | None = None
        self._checked_at = 0.0
        # Bumped by every local change; a snapshot is current only if loaded by a refresh
        # that started after the last bump (a refresh in flight may have read the version
        # before the change committed).
        self._generation = 1
        self._current_generation = 0
        self._reload = asyncio.Lock()
        hub.database.on_commit(CHANGED_FLAG, self.invalidate)

    def invalidate(self) -> None:
        self._generation += 1

    def _usable(self, snapshot: TargetSnapshot | None, min_version: int | None) -> bool:
        return (
            snapshot is not None
            and self._current_generation == self._generation
            and (min_version is None or snapshot.version >= min_version)
        )

    async def get(
        self, connection: AsyncConnection | None = None, *, min_version: int | None = None
    ) -> TargetSnapshot:
        """The snapshot; ``min_version``: at least this configuration version."""
        snapshot = self._snapshot
        if self._usable(snapshot, min_version):
            assert snapshot is not None
            interval = self.hub.settings.endpoint_refresh_seconds
            if time.monotonic() - self._checked_at < interval:
                return snapshot
            if connection is None and self._reload.locked():
                # Only expired, and another caller is checking the version already: keep
                # this snapshot meanwhile instead of all reading the version at once.
                return snapshot
        if connection is not None:
            return await self._refresh(connection)
        async with self._reload:
            # Whoever held the lock may have loaded what this caller needs.
            snapshot = self._snapshot
            if (
                self._usable(snapshot, min_version)
                and time.monotonic() - self._checked_at < self.hub.settings.endpoint_refresh_seconds
            ):
                assert snapshot is not None
                return snapshot
            async with self.hub.database.read() as reader:
                return await self._refresh(reader)

    async def _refresh(self, connection: AsyncConnection) -> TargetSnapshot:
        generation = self._generation
        version = await read_version(connection)
        snapshot = self._snapshot
        if snapshot is None or snapshot.version != version:
            snapshot = await self._load(connection, version)
            # Concurrent refreshes (fan-out refreshes on its own transaction): keep the newest.
            if self._snapshot is None or snapshot.version >= self._snapshot.version:
                self._snapshot = snapshot
        self._checked_at = time.monotonic()
        if generation == self._generation:
            self._current_generation = generation
        return snapshot

    async def _load(self, connection: AsyncConnection, version: int) -> TargetSnapshot:
        keyring = self.hub.keyring
        rows = await connection.execute(select(endpoints).where(endpoints.c.deleted_at.is_(None)))
        loaded = [endpoint_from_row(keyring, row) for row in rows]
        secrets = await signing_secrets(connection, keyring, None)
        targets: dict[str, Target] = {}
        by_type: dict[str, list[Target]] = {}
        all_types: list[Target] = []
        for endpoint in loaded:
            target = Target(
                endpoint=endpoint,
                filter=compile_filter(endpoint.filter) if endpoint.filter else None,
                lane_of=compile_path(endpoint.ordering_key) if endpoint.ordering_key else None,
                secrets=secrets.get(endpoint.id, []),
            )
            targets[endpoint.id] = target
            if endpoint.event_types:
                for name in endpoint.event_types:
                    by_type.setdefault(name, []).append(target)
            else:
                all_types.append(target)
        validators: dict[str, Draft202012Validator] = {}
        known: dict[str, bool] = {}
        for name, schema, archived in await connection.execute(
            select(event_types.c.name, event_types.c.schema, event_types.c.archived)
        ):
            known[name] = bool(archived)
            if schema:
                validators[name] = Draft202012Validator(schema)
        return TargetSnapshot(version, targets, by_type, all_types, validators, known)
