"""``hub.connectors``: what the API, the CLI and other features (flows, syncs)
use to reach vendors.

::

    service = hub.connectors
    async with hub.database.transaction() as tx:
        submission_id = await service.submit(
            tx, "marketo", "upsert_leads", [{"email": "a@example.com"}],
            reply_to={"task": "flows.action_done", "payload": {"run_id": run_id}},
        )
    ...
    outcome = await service.submission(submission_id)   # per-record results
    result = await service.call("hubspot", "read_contacts", {"since": "2026-01-01T00:00:00Z"})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors import batching
from renkei.connectors.batching import Submission
from renkei.connectors.registry import ConnectorRegistry
from renkei.connectors.runtime import ConnectorRuntime
from renkei.connectors.spec import OperationResult

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = ["ConnectorService"]


class ConnectorService:
    def __init__(self, hub: Core, registry: ConnectorRegistry | None = None) -> None:
        self.hub = hub
        self.runtime = ConnectorRuntime(hub, registry)

    @property
    def registry(self) -> ConnectorRegistry:
        return self.runtime.registry

    async def submit(
        self,
        tx: AsyncConnection | None = None,
        connection: str = "",
        operation: str = "",
        records: Sequence[Any] | None = None,
        *,
        input: Any = None,
        key: str | None = None,
        reply_to: Mapping[str, Any] | None = None,
    ) -> str:
        """Queue records for ``operation``; they are sent in batches through the durable
        queue under the connection's limits. Returns the submission id.

        Called with ``tx``, the records are queued in the caller's transaction (they exist
        only if it commits); without, in a transaction of their own. ``records`` is a list
        of records (of inputs, for an operation that is not batchable); ``input`` is the
        other spelling for one step's payload: one record, or a list of them. ``key`` makes
        it idempotent (a flow step run again submits nothing new). See
        :func:`renkei.connectors.batching.submit`.
        """
        items = list(records) if records is not None else self._items(connection, operation, input)
        if tx is not None:
            return await batching.submit(
                self.runtime, tx, connection, operation, items, reply_to=reply_to, key=key
            )
        async with self.hub.database.transaction() as own:
            return await batching.submit(
                self.runtime, own, connection, operation, items, reply_to=reply_to, key=key
            )

    def _items(self, connection: str, operation: str, input: Any) -> list[Any]:
        if isinstance(input, list | tuple):
            return list(input)
        return [input]

    async def preview(self, connection: str, operation: str, input: Any) -> list[dict[str, Any]]:
        """What submitting ``input`` would queue, without queueing or sending anything: one
        entry per record with the problem the connector would report before sending."""
        row = await self.runtime.load(connection)
        connector = self.runtime.connector(row)
        op = connector.spec.operation(operation)
        size = self.runtime.limits(row).batch_size_for(op)
        items = self._items(connection, operation, input)
        return [
            {
                "connection": row.name,
                "connector": row.connector,
                "operation": op.name,
                "batch_size": size,
                "record": item,
                "problem": op.input_problem(item),
            }
            for item in items
        ]

    async def submission(self, submission_id: str) -> Submission | None:
        """A submission with the outcome of every record (None if unknown)."""
        async with self.hub.database.read() as connection:
            return await batching.get_submission(connection, submission_id)

    async def call(self, connection: str, operation: str, input: Any) -> OperationResult:
        """Run an operation now, outside the queue (reads, previews), under the same
        shared limits. Raises the connector's errors."""
        row = await self.runtime.load(connection)
        return await self.runtime.call(row, operation, input)

    async def test(self, connection: str) -> dict[str, Any]:
        return await self.runtime.test(await self.runtime.load(connection))

    async def usage(self, connection: str) -> dict[str, Any]:
        return await self.runtime.usage(await self.runtime.load(connection))
