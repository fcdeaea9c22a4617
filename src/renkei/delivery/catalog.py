"""The in-memory webhook configuration: endpoints compiled for matching, and schemas.

Fan-out runs for every stored event, so matching must not touch the database: each
process keeps a :class:`Snapshot` (endpoints indexed by event type, filters compiled,
secrets decrypted, event-type validators) and reloads it when the configuration version
moved. The version is read at most once per ``endpoint_refresh_seconds``; a change made
in this process invalidates the snapshot at commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.delivery.config_version import CHANGED_FLAG, read_version
from renkei.delivery.endpoints import Endpoint, endpoint_from_row, signing_secrets
from renkei.events.envelope import Event
from renkei.flows.filter import Filter, compile_filter
from renkei.flows.paths import MISSING, compile_path
from renkei.store.tables.webhooks import endpoints, event_types

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["Catalog", "Snapshot", "Target", "event_document"]

# Operational events are about deliveries; they never produce more operational events.
OPERATIONAL_TYPES = frozenset(
    {"message.attempt.failing", "message.attempt.exhausted", "endpoint.disabled"}
)


def event_document(event: Event) -> dict[str, Any]:
    """What an endpoint filter and an ordering key see."""
    return {
        "id": event.id,
        "type": event.type,
        "name": event.name,
        "data": event.data,
        "source_id": event.source_id,
        "user_id": event.user_id,
        "anonymous_id": event.anonymous_id,
        "email": event.email,
    }


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
class Snapshot:
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
                    document = event_document(event)
                if not target.filter.matches(document):
                    continue
            matched.append(target)
        return matched


class Catalog:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._dirty = True
        hub.database.on_commit(CHANGED_FLAG, self.invalidate)

    def invalidate(self) -> None:
        self._dirty = True

    async def get(self, connection: AsyncConnection | None = None) -> Snapshot:
        snapshot = self._snapshot
        interval = self.hub.settings.endpoint_refresh_seconds
        if (
            snapshot is not None
            and not self._dirty
            and time.monotonic() - self._checked_at < interval
        ):
            return snapshot
        if connection is None:
            if snapshot is not None and not self._dirty:
                # Only expired: this caller refreshes, concurrent ones keep the snapshot
                # meanwhile instead of all reading the version at once.
                self._checked_at = time.monotonic()
            async with self.hub.database.read() as reader:
                return await self._refresh(reader)
        return await self._refresh(connection)

    async def _refresh(self, connection: AsyncConnection) -> Snapshot:
        self._dirty = False
        version = await read_version(connection)
        self._checked_at = time.monotonic()
        if self._snapshot is not None and self._snapshot.version == version:
            return self._snapshot
        snapshot = await self._load(connection, version)
        self._snapshot = snapshot
        return snapshot

    async def _load(self, connection: AsyncConnection, version: int) -> Snapshot:
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
        return Snapshot(version, targets, by_type, all_types, validators, known)
