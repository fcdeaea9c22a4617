"""Deletion requests: a person removed from Renkei and from every connection, as a job.

A request is created (with its job) in the caller's transaction. The job first removes the
person from Renkei's own tables, each through the package that owns them (events and
profiles, deliveries, flow runs, sync state, connector records, queued jobs), in one
transaction; then calls the deletion each connection's connector declares
(``connectors/deletion.py``). ``systems`` records per system ``done`` (with counts),
``failed`` (with the reason) or ``not_applicable``. A vendor failure that may pass
(timeout, 5xx, rate limit, quota) fails the job, which the queue retries on its schedule;
systems already done are not called again. A permanent refusal is final for that system.

What identifies the person is kept sealed in the request (``subject_encrypted``) only
until the request finishes: the vendors still to call need it, nothing else does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors.connections import list_connections
from renkei.connectors.deletion import person_ids_for
from renkei.connectors.errors import ConnectorError, PermanentError
from renkei.connectors.forget import forget_records
from renkei.delivery.forget import forget_deliveries
from renkei.errors import NotFound
from renkei.events.envelope import format_timestamp
from renkei.events.forget import EventMode, Person, forget_person
from renkei.events.violations import scrub_samples, scrub_samples_quoting
from renkei.flows.forget import forget_flow_state
from renkei.ids import new_id
from renkei.queue.forget import forget_jobs
from renkei.store.purge import purge_deleted
from renkei.store.tables.privacy import privacy_requests
from renkei.syncs.forget import forget_sync_state

if TYPE_CHECKING:
    from renkei.connectors.service import ConnectorService
    from renkei.core import Core

__all__ = ["DELETE_TASK", "RENKEI", "PrivacyRequest", "PrivacyRequests", "VendorsToRetry"]

DELETE_TASK = "privacy.delete"
RENKEI = "renkei"  # the system name of Renkei's own database in ``systems``
_CONTEXT = "privacy_requests.subject_encrypted"
_CONNECTIONS_PAGE = 500
log = structlog.get_logger("renkei.privacy")


class VendorsToRetry(Exception):
    """Some vendor deletions failed in a way that may pass: the job is to be retried."""


@dataclass(frozen=True, slots=True)
class PrivacyRequest:
    id: str
    kind: str
    status: str
    profile_id: str | None
    events_mode: str
    systems: dict[str, dict[str, Any]]
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "profile_id": self.profile_id,
            "events_mode": self.events_mode,
            "systems": self.systems,
            "error": self.error,
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
            "finished_at": format_timestamp(self.finished_at) if self.finished_at else None,
        }


def _request(row: Any) -> PrivacyRequest:
    return PrivacyRequest(
        row.id,
        row.kind,
        row.status,
        row.profile_id,
        row.events_mode,
        dict(row.systems or {}),
        row.error,
        row.created_at,
        row.updated_at,
        row.finished_at,
    )


class PrivacyRequests:
    def __init__(self, hub: Core, connectors: ConnectorService) -> None:
        self.hub = hub
        self.connectors = connectors

    async def create_deletion(
        self, tx: AsyncConnection, person: Person, *, events_mode: EventMode
    ) -> PrivacyRequest:
        now = self.hub.clock.now()
        sealed = self.hub.keyring.encrypt(json.dumps(person.to_dict()), context=_CONTEXT)
        row: dict[str, Any] = {
            "id": new_id("prq"),
            "kind": "delete",
            "status": "pending",
            "profile_id": person.profile_id,
            "events_mode": events_mode,
            "subject_encrypted": sealed,
            "systems": {},
            "error": None,
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
        }
        await tx.execute(privacy_requests.insert().values(row))
        await self.hub.queue.enqueue(tx, DELETE_TASK, {"r": row["id"]})
        return PrivacyRequest(
            row["id"], "delete", "pending", person.profile_id, events_mode, {}, None, now, now, None
        )

    async def get(self, connection: AsyncConnection, request_id: str) -> PrivacyRequest:
        row = (
            await connection.execute(
                select(privacy_requests).where(privacy_requests.c.id == request_id)
            )
        ).first()
        if row is None:
            raise NotFound("privacy request", request_id)
        return _request(row)

    async def list_requests(
        self, connection: AsyncConnection, *, limit: int, before: str | None = None
    ) -> list[PrivacyRequest]:
        query = select(privacy_requests).order_by(privacy_requests.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(privacy_requests.c.id < before)
        return [_request(row) for row in await connection.execute(query)]

    # --- the job -----------------------------------------------------------------------

    async def run(self, request_id: str) -> None:
        hub = self.hub
        async with hub.database.read() as reader:
            row = (
                await reader.execute(
                    select(privacy_requests).where(privacy_requests.c.id == request_id)
                )
            ).first()
        if row is None or row.status in ("done", "failed") or row.subject_encrypted is None:
            return
        person = Person.from_dict(
            json.loads(hub.keyring.decrypt(row.subject_encrypted, context=_CONTEXT))
        )
        systems: dict[str, dict[str, Any]] = dict(row.systems or {})
        if systems.get(RENKEI, {}).get("status") != "done":
            systems[RENKEI] = await self._forget_here(person, row.events_mode)
            await self._save(request_id, "running", systems)
        retry: list[str] = []
        for connection in await self._connections():
            before = systems.get(connection.name, {})
            if before.get("status") in ("done", "not_applicable") or (
                before.get("status") == "failed" and not before.get("retrying")
            ):
                continue  # final: a refusal for good is not asked again
            outcome = await self._forget_there(connection, person)
            systems[connection.name] = outcome
            if outcome.get("retrying"):
                retry.append(connection.name)
        if retry:
            await self._save(request_id, "running", systems)
            raise VendorsToRetry(f"vendor deletion to retry: {', '.join(sorted(retry))}")
        failed = any(s.get("status") == "failed" for s in systems.values())
        await self._finish(request_id, "failed" if failed else "done", systems, None)

    async def fail(self, request_id: str, error: str) -> None:
        """The job died (retries exhausted): the request failed; its sealed subject goes."""
        async with self.hub.database.read() as reader:
            row = (
                await reader.execute(
                    select(privacy_requests.c.systems).where(privacy_requests.c.id == request_id)
                )
            ).first()
        if row is None:
            return
        systems = {
            name: ({**state, "status": "failed"} if state.get("retrying") else state)
            for name, state in (row.systems or {}).items()
        }
        await self._finish(request_id, "failed", systems, error[:1000])

    async def _forget_here(self, person: Person, events_mode: str) -> dict[str, Any]:
        hub = self.hub
        values = [value for _, value in person.keys]
        mode: EventMode = "scrub" if events_mode == "scrub" else "delete"
        async with hub.database.transaction() as tx:
            forgotten = await forget_person(tx, person, mode=mode)
            # A tracking-plan violation keeps the payload of its latest event as a sample
            # (traits: an email, a name): gone with the events they were taken from.
            samples = await scrub_samples(tx, forgotten.event_ids)
            samples += await scrub_samples_quoting(tx, values)  # events never stored
            deliveries = await forget_deliveries(tx, forgotten.event_ids, values)
            flows = await forget_flow_state(tx, forgotten.event_ids, values)
            syncs = await forget_sync_state(tx, forgotten.event_ids, values)
            records = await forget_records(tx, values)
            jobs = await forget_jobs(tx, values)
        purged = await purge_deleted(hub.database)
        return {
            "status": "done",
            "wal_purged": purged,
            "counts": {
                **forgotten.counts(),
                "events_mode": events_mode,
                "deliveries": deliveries["deliveries"],
                "deliveries_cancelled": deliveries["cancelled"],
                "attempts": deliveries["attempts"],
                "flow_runs": flows["runs"],
                "flow_runs_cancelled": flows["cancelled"],
                "flow_entries": flows["entries"],
                "sync_pending": syncs["pending"],
                "sync_changes": syncs["changes"],
                "connector_records": records["records"],
                "connector_records_cancelled": records["cancelled"],
                "jobs": jobs,
                "violation_samples": samples,
            },
        }

    async def _connections(self) -> list[Any]:
        found: list[Any] = []
        after: str | None = None
        async with self.hub.database.read() as reader:
            while True:
                page = await list_connections(reader, limit=_CONNECTIONS_PAGE, after=after)
                found += page
                if len(page) < _CONNECTIONS_PAGE:
                    return found
                after = page[-1].id

    async def _forget_there(self, connection: Any, person: Person) -> dict[str, Any]:
        registry = self.connectors.registry
        if connection.connector not in registry:
            return {"status": "not_applicable", "reason": "unknown connector"}
        deletion = type(registry.get(connection.connector)).person_deletion
        if deletion is None:
            return {
                "status": "not_applicable",
                "reason": f"{connection.connector} declares no deletion",
            }
        payload = deletion.input(person_ids_for(person.keys, connection.id))
        if payload is None:
            return {
                "status": "not_applicable",
                "reason": f"no identifier {connection.connector} knows the person by",
            }
        try:
            result = await self.connectors.call(connection.name, deletion.operation, payload)
        except PermanentError as exc:
            return {"status": "failed", "reason": _reason(exc, person)}
        except ConnectorError as exc:  # may pass: the job is retried
            return {"status": "failed", "reason": _reason(exc, person), "retrying": True}
        data = result.data if isinstance(result.data, dict) else {}
        outcome: dict[str, Any] = {"status": "done", "operation": deletion.operation}
        for key in ("deleted", "asynchronous"):
            if key in data:
                outcome[key] = data[key]
        return outcome

    async def _save(self, request_id: str, status: str, systems: dict[str, Any]) -> None:
        async with self.hub.database.transaction() as tx:
            await tx.execute(
                update(privacy_requests)
                .where(privacy_requests.c.id == request_id)
                .values(status=status, systems=systems, updated_at=self.hub.clock.now())
            )

    async def _finish(
        self, request_id: str, status: str, systems: dict[str, Any], error: str | None
    ) -> None:
        now = self.hub.clock.now()
        async with self.hub.database.transaction() as tx:
            await tx.execute(
                update(privacy_requests)
                .where(privacy_requests.c.id == request_id)
                .values(
                    status=status,
                    systems=systems,
                    error=error,
                    subject_encrypted=None,
                    updated_at=now,
                    finished_at=now,
                )
            )
            await self.hub.audit(
                tx,
                None,
                "privacy.delete_finished",
                target_type="privacy_request",
                target_id=request_id,
                details={
                    "status": status,
                    "systems": {name: state.get("status") for name, state in systems.items()},
                },
            )
        log.info("privacy.delete_finished", request_id=request_id, status=status)


def _reason(exc: ConnectorError, person: Person) -> str:
    """The vendor's reason, without anything that identifies the person (a vendor may
    quote the email it refused)."""
    text = f"{type(exc).__name__}: {exc.message}"[:500]
    for _, value in person.keys:
        if value:
            text = text.replace(value, "[deleted]")
    return text
