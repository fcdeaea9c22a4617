"""The in-memory view of enabled flows: trigger matching without a query per event.

The configuration version (store/config_version.py) is bumped in every transaction that
changes a flow. Each process compares it at most once per ``RENKEI_FLOW_REFRESH_SECONDS``
and reloads when it moved; a change made through this process invalidates at commit, so it
applies at once.
Compiled versions are immutable and cached by ``(flow id, version)``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.flows.spec import CompiledFlow, compile_flow
from renkei.store.config_version import CHANGED_FLAG, read_version
from renkei.store.tables.flows import flow_versions, flows

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["FlowCatalog", "LiveFlow"]

_CACHE_SIZE = 512


@dataclass(frozen=True)
class LiveFlow:
    id: str
    name: str
    version: int
    compiled: CompiledFlow


@dataclass(frozen=True)
class _Snapshot:
    version: int
    flows: tuple[LiveFlow, ...]
    by_type: dict[str, tuple[LiveFlow, ...]]

    def candidates(self, event_type: str) -> tuple[LiveFlow, ...]:
        return self.by_type.get(event_type, ()) + self.by_type.get("*", ())


class FlowCatalog:
    def __init__(self, hub: Core) -> None:
        self.hub = hub
        self._snapshot: _Snapshot | None = None
        self._checked_at = 0.0
        self._dirty = True
        self._compiled: OrderedDict[tuple[str, int], CompiledFlow] = OrderedDict()
        hub.database.on_commit(CHANGED_FLAG, self.invalidate)

    def invalidate(self) -> None:
        self._dirty = True

    async def snapshot(self, connection: AsyncConnection) -> _Snapshot:
        current = self._snapshot
        interval = self.hub.settings.flow_refresh_seconds
        if (
            current is not None
            and not self._dirty
            and time.monotonic() - self._checked_at < interval
        ):
            return current
        self._dirty = False
        version = await read_version(connection)
        self._checked_at = time.monotonic()
        if current is not None and current.version == version:
            return current
        self._snapshot = await self._load(connection, version)
        return self._snapshot

    async def live(self, connection: AsyncConnection) -> tuple[LiveFlow, ...]:
        return (await self.snapshot(connection)).flows

    async def _load(self, connection: AsyncConnection, version: int) -> _Snapshot:
        rows = await connection.execute(
            select(flows.c.id, flows.c.name, flows.c.version, flow_versions.c.spec)
            .join(
                flow_versions,
                (flow_versions.c.flow_id == flows.c.id)
                & (flow_versions.c.version == flows.c.version),
            )
            .where(flows.c.deleted_at.is_(None), flows.c.enabled.is_(True))
            .order_by(flows.c.id)
        )
        live: list[LiveFlow] = []
        by_type: dict[str, list[LiveFlow]] = {}
        for row in rows:
            compiled = self._remember(row.id, row.version, row.spec)
            if compiled is None:
                continue
            flow = LiveFlow(row.id, row.name, row.version, compiled)
            live.append(flow)
            for event_type in compiled.trigger.event_types:
                by_type.setdefault(event_type, []).append(flow)
        return _Snapshot(version, tuple(live), {k: tuple(v) for k, v in by_type.items()})

    def _remember(self, flow_id: str, version: int, spec: Any) -> CompiledFlow | None:
        key = (flow_id, version)
        found = self._compiled.get(key)
        if found is None:
            try:
                found = compile_flow(spec)
            except Exception:
                # A stored spec that no longer compiles (code changed under it) matches nothing.
                return None
            self._compiled[key] = found
            if len(self._compiled) > _CACHE_SIZE:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        return found

    async def version(
        self, connection: AsyncConnection, flow_id: str, version: int
    ) -> CompiledFlow:
        """A flow version as its runs execute it; raises ``LookupError`` if it is gone."""
        found = self._compiled.get((flow_id, version))
        if found is not None:
            return found
        spec = (
            await connection.execute(
                select(flow_versions.c.spec).where(
                    flow_versions.c.flow_id == flow_id, flow_versions.c.version == version
                )
            )
        ).scalar()
        if spec is None:
            raise LookupError(f"flow {flow_id} has no version {version}")
        compiled = compile_flow(spec)
        self._compiled[(flow_id, version)] = compiled
        return compiled
