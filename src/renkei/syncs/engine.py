"""Running syncs: pulls page by page with the cursor checkpointed after every page, batch
pushes of changed profiles, and the realtime pushes the fan-out queues.

Every vendor call goes through ``hub.services["connectors"]`` (shared rate limits and the
daily quota). A limit parks the job with ``RetryLater(count_attempt=False)``; an exhausted
quota parks it until the reset.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors.connections import ConnectionRow, find_connection
from renkei.connectors.errors import (
    ConnectorError,
    PermanentError,
    QuotaExhaustedError,
    RateLimitedError,
    RetryableError,
)
from renkei.events.envelope import Event, format_timestamp, parse_timestamp
from renkei.events.log import record_events
from renkei.events.profiles import (
    Identity,
    IdentityConflict,
    Profile,
    ProfileQuery,
    ProfileResolver,
    attach_identity,
    event_identities,
    find_profiles,
    normalize_identity,
    vendor_identity,
    vendor_ids,
)
from renkei.queue import GiveUp, RetryLater
from renkei.security.redaction import redact_text
from renkei.store.tables.core import events as events_table
from renkei.store.tables.ingest import identities
from renkei.store.tables.ingest import profiles as profiles_table
from renkei.store.tables.syncs import sync_pending, sync_runs, syncs
from renkei.syncs import model
from renkei.syncs.model import Sync
from renkei.syncs.planner import QuotaStatus, quota_status, raise_alerts
from renkei.syncs.records import jsonable, mapping_of, profile_document, profile_email

if TYPE_CHECKING:
    from renkei.connectors.service import ConnectorService
    from renkei.hub import Hub

__all__ = ["PUSH_EVENT_TASK", "PUSH_PROFILE_TASK", "RUN_TASK", "SyncEngine", "died"]

log = structlog.get_logger("renkei.syncs")

RUN_TASK = "syncs.run"
PUSH_PROFILE_TASK = "syncs.push_profile"
PUSH_EVENT_TASK = "syncs.push_event"
BATCH = 300
LEAD_ID = "marketo_lead_id"
CONTACT_ID = "hubspot_contact_id"
_EPOCH = "1970-01-01T00:00:00Z"
_EVENT_PAGE = 1000
_IN_CHUNK = 500
SETTLE_SECONDS = 10.0
"""A batch push reads identify events at least this old (see ``_push_profiles``)."""


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def error(self, message: str, **details: Any) -> None:
        self.add("failed")
        self.errors.append({"message": message[:500], **details})


class SyncEngine:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._realtime_runs: dict[str, tuple[datetime, str]] = {}
        self._connections: dict[str, tuple[float, ConnectionRow]] = {}

    @property
    def connectors(self) -> ConnectorService:
        service: ConnectorService = self.hub.services["connectors"]
        return service

    def now(self) -> datetime:
        return self.hub.clock.now()

    # --- the quota planner -----------------------------------------------------------------

    async def _connection(self, connection: AsyncConnection | None, ref: str) -> ConnectionRow:
        """The stored connection, read at most every ``RENKEI_SYNC_REFRESH_SECONDS``: every
        realtime push and every quota check needs it."""
        now = time.monotonic()
        known = self._connections.get(ref)
        if known is not None and now - known[0] < self.hub.settings.sync_refresh_seconds:
            return known[1]
        if connection is None:
            async with self.hub.database.read() as reader:
                row = await find_connection(reader, ref)
        else:
            row = await find_connection(connection, ref)
        if row is None:
            self._connections.pop(ref, None)
            raise PermanentError(f"connection {ref!r} not found", code="connection_not_found")
        self._connections[ref] = (now, row)
        return row

    async def status(
        self, connection: AsyncConnection, ref: str, sync: Sync | None = None
    ) -> QuotaStatus:
        row = await self._connection(connection, ref)
        quota = self.connectors.runtime.limits(row).daily_quota
        share = float((sync.config.get("quota_budget") if sync else None) or 1.0)
        return await quota_status(
            connection,
            name=row.name,
            connection_id=row.id,
            quota=quota,
            now=self.now(),
            budget_share=share,
        )

    async def _after_calls(self, ref: str) -> None:
        """The quota alerts due, in a transaction of their own (a call refused for the
        quota records nothing else)."""
        async with self.hub.database.transaction() as tx:
            status = await self.status(tx, ref)
            await raise_alerts(self.hub, tx, status)

    async def _call(self, sync: Sync, operation: str, input: Any, tally: _Tally) -> Any:
        try:
            row = await self._connection(None, sync.connection)
            result = await self.connectors.runtime.call(row, operation, input)
        except QuotaExhaustedError as exc:
            await self._after_calls(sync.connection)
            raise RetryLater(exc.message, at=exc.resets_at, count_attempt=False) from exc
        except RateLimitedError as exc:
            raise RetryLater(exc.message, delay=exc.retry_after, count_attempt=False) from exc
        # A Marketo read from a date first fetches a paging token: one more call.
        token_call = sync.object != "contacts" and isinstance(input, dict) and "since" in input
        tally.add("calls", 2 if token_call else 1)
        return result

    async def _check_alerts(self, tx: AsyncConnection, sync: Sync, tally: _Tally) -> None:
        """After vendor calls, in the transaction that records them: the quota alerts due."""
        if tally.counts.get("calls"):
            await raise_alerts(self.hub, tx, await self.status(tx, sync.connection))

    # --- runs ------------------------------------------------------------------------------

    async def run(self, sync_id: str, run_id: str) -> None:
        async with self.hub.database.read() as connection:
            sync = await model.find_sync(connection, sync_id)
            run = await model.get_run(connection, run_id)
        if sync is None or run is None:
            raise GiveUp(f"sync {sync_id} or run {run_id} is gone")
        if run.status in ("succeeded", "failed"):
            return
        await self._checkpoint(sync, run_id, None, _Tally(), status="running")
        try:
            if sync.direction == "pull" and sync.object in ("leads", "activities"):
                await self._pull_marketo(sync, run_id)
            elif sync.direction == "pull" and sync.object == "contacts":
                await self._pull_hubspot(sync, run_id)
            elif sync.direction == "push" and sync.object in ("leads", "contacts"):
                await self._push_profiles(sync, run_id)
            else:
                raise GiveUp(f"a {sync.direction} of {sync.object} runs only on events")
        except (PermanentError, GiveUp) as exc:
            tally = _Tally()
            tally.error(str(exc))
            await self._checkpoint(sync, run_id, None, tally, status="failed", done=True)
            raise GiveUp(str(exc)) from exc
        await self._checkpoint(sync, run_id, None, _Tally(), status="succeeded", done=True)

    async def _checkpoint(
        self,
        sync: Sync,
        run_id: str,
        cursor: dict[str, Any] | None,
        tally: _Tally,
        *,
        tx: AsyncConnection | None = None,
        status: str | None = None,
        done: bool = False,
    ) -> None:
        async def write(connection: AsyncConnection) -> None:
            if cursor is not None:
                await connection.execute(
                    update(syncs).where(syncs.c.id == sync.id).values(cursor=cursor)
                )
                sync.cursor = cursor
            await model.add_to_run(
                connection,
                run_id,
                tally.counts,
                tally.errors,
                status=status,
                finished_at=self.now() if done else None,
            )
            await self._check_alerts(connection, sync, tally)

        if tx is not None:
            await write(tx)
            return
        async with self.hub.database.transaction() as own:
            await write(own)

    # --- pulls -----------------------------------------------------------------------------

    async def _pull_marketo(self, sync: Sync, run_id: str) -> None:
        config = sync.config
        size = int(config.get("page_size") or BATCH)
        while True:
            token = (sync.cursor or {}).get("next_page_token")
            read: dict[str, Any] = {"batch_size": size, "max_pages": 1}
            if token:
                read["next_page_token"] = token
            else:
                read["since"] = str(config.get("since") or _EPOCH)
            tally = _Tally()
            if sync.object == "leads":
                fields = list(config.get("fields") or ["email"])
                result = await self._call(
                    sync, "read_lead_changes", read | {"fields": fields}, tally
                )
            else:
                type_ids = [int(t) for t in config.get("activity_type_ids") or [1]]
                result = await self._call(
                    sync, "read_activities", read | {"activity_type_ids": type_ids}, tally
                )
            data = result.data or {}
            records = list(data.get("records") or [])
            tally.add("read", len(records))
            cursor = {"next_page_token": data.get("next_page_token") or token}
            if sync.object == "leads":
                leads = await self._fetch_leads(sync, records, tally)
                async with self.hub.database.transaction() as tx:
                    await self._store_leads(tx, sync, leads, tally)
                    await self._checkpoint(sync, run_id, cursor, tally, tx=tx)
            else:
                async with self.hub.database.transaction() as tx:
                    await self._store_activities(tx, sync, records, tally)
                    await self._checkpoint(sync, run_id, cursor, tally, tx=tx)
            if not data.get("more"):
                return

    async def _fetch_leads(
        self, sync: Sync, changes: Sequence[dict[str, Any]], tally: _Tally
    ) -> list[dict[str, Any]]:
        """The current values of the leads a page of lead changes names (one call per 300):
        a change carries only the changed field, matching needs the email."""
        ids = sorted({int(c["leadId"]) for c in changes if c.get("leadId") is not None})
        if not ids:
            return []
        configured = [str(f) for f in sync.config.get("fields") or []]
        fields = sorted({"id", "email", "updatedAt", *configured})
        row = await self._connection(None, sync.connection)
        _connector, ctx = self.connectors.runtime.open(row)
        leads: list[dict[str, Any]] = []
        try:
            async with ctx:
                for start in range(0, len(ids), BATCH):
                    chunk = ids[start : start + BATCH]
                    response = await ctx.http.request(
                        "GET",
                        "/rest/v1/leads.json",
                        operation="read_leads",
                        params={
                            "filterType": "id",
                            "filterValues": ",".join(str(i) for i in chunk),
                            "fields": ",".join(fields),
                        },
                    )
                    tally.add("calls")
                    leads.extend(response.json().get("result") or [])
        except QuotaExhaustedError as exc:
            raise RetryLater(exc.message, at=exc.resets_at, count_attempt=False) from exc
        except RateLimitedError as exc:
            raise RetryLater(exc.message, delay=exc.retry_after, count_attempt=False) from exc
        except ConnectorError as exc:
            if not isinstance(exc, RetryableError):
                raise PermanentError(exc.message, code=exc.code) from exc
            raise
        return leads

    async def _store_leads(
        self,
        tx: AsyncConnection,
        sync: Sync,
        leads: Sequence[dict[str, Any]],
        tally: _Tally,
        *,
        kind: str = LEAD_ID,
        modified: str = "updatedAt",
    ) -> None:
        """Vendor records to profiles: matched by email, the vendor id attached as ``kind``.

        A pulled value is as of the record's ``modified`` time (Marketo's ``updatedAt``,
        HubSpot's ``lastmodifieddate``): a trait changed here at that time or later keeps
        its value. One resolver for the page: identities read in one query, written once."""
        mapping = mapping_of(sync.config)
        now = self.now()
        connection_id = (await self._connection(tx, sync.connection)).id
        keep = {str(f) for f in sync.config.get("fields") or []}
        resolver = ProfileResolver(tx, now=now)
        prepared: list[tuple[str, list[tuple[str, str]], dict[str, Any], datetime]] = []
        for lead in leads:
            email = lead.get("email")
            lead_id = str(lead.get("id"))
            stamp = parse_timestamp(lead.get(modified))
            at = now if stamp is None else min(stamp, now)
            if modified not in keep and kind == LEAD_ID:
                lead = {k: v for k, v in lead.items() if k != modified}
            traits = {k: v for k, v in lead.items() if k not in ("id",) and v is not None}
            if mapping is not None:
                mapped = mapping.apply({"lead": lead, **lead})
                traits = mapped.record
                for problem in mapped.problems:
                    tally.errors.append({"lead_id": lead_id, "problem": str(problem)})
            # The vendor id is the connection's: another instance's lead #1 is someone else.
            raw = [(kind, f"{connection_id}:{lead_id}")]
            if isinstance(email, str) and "@" in email:
                raw.insert(0, ("email", email))
            try:
                keys = [normalize_identity(k, v) for k, v in raw]
            except ValueError as exc:
                tally.error(str(exc), lead_id=lead_id)
                continue
            prepared.append((lead_id, keys, jsonable(traits), at))
        await resolver.load([key for _, keys, _, _ in prepared for key in keys])
        current = await _current_traits(
            tx, [owner for _, keys, _, _ in prepared if (owner := _first_owner(resolver, keys))]
        )
        for lead_id, keys, traits, at in prepared:
            owner = _first_owner(resolver, keys)
            if owner in current:
                as_of = format_timestamp(at)
                local = current[owner]
                traits = {
                    name: value
                    for name, value in traits.items()
                    if name not in local or local[name].get("updated_at", "") < as_of
                }
            try:
                profile_id = await resolver.resolve(keys)
            except (IdentityConflict, ValueError) as exc:
                tally.error(str(exc), lead_id=lead_id)
                continue
            if profile_id is not None and traits:
                await resolver.merge_traits(profile_id, traits, at=at)
            tally.add("updated" if owner is not None else "created")
        await resolver.flush()

    async def _store_activities(
        self, tx: AsyncConnection, sync: Sync, records: Sequence[dict[str, Any]], tally: _Tally
    ) -> None:
        now = self.now()
        event_type = str(sync.config.get("event_type") or "marketo.activity")
        events = [
            Event(
                id=f"mkto_act_{record.get('marketoGUID') or record.get('id')}",
                type=event_type,
                name=str(record.get("primaryAttributeValue") or record.get("activityTypeId")),
                data={**record, "marketo_lead_id": record.get("leadId")},
                occurred_at=parse_timestamp(record.get("activityDate")) or now,
                received_at=now,
                source_id=sync.id,
            )
            for record in records
        ]
        fresh = await record_events(self.hub, tx, events) if events else []
        tally.add("created", len(fresh))
        tally.add("skipped", len(events) - len(fresh))

    async def _pull_hubspot(self, sync: Sync, run_id: str) -> None:
        """Contacts by ``lastmodifieddate``: HubSpot's own cursor, checkpointed per page."""
        config = sync.config
        size = min(200, int(config.get("page_size") or 100))
        while True:
            read: dict[str, Any] = {"page_size": size, "max_pages": 1}
            if config.get("fields"):
                read["properties"] = [str(f) for f in config["fields"]]
            position = (sync.cursor or {}).get("cursor")
            if position:
                read["cursor"] = position
            elif config.get("since"):
                read["since"] = str(config["since"])
            tally = _Tally()
            result = await self._call(sync, "read_contacts", read, tally)
            data = result.data or {}
            records = list(data.get("records") or [])
            tally.add("read", len(records))
            contacts = [
                {**dict(record.get("properties") or {}), "id": record.get("id")}
                for record in records
            ]
            cursor = {"cursor": data.get("cursor") or position}
            async with self.hub.database.transaction() as tx:
                await self._store_leads(
                    tx, sync, contacts, tally, kind=CONTACT_ID, modified="lastmodifieddate"
                )
                await self._checkpoint(sync, run_id, cursor, tally, tx=tx)
            if not data.get("more"):
                return

    # --- batch push of profiles ------------------------------------------------------------

    async def _push_profiles(self, sync: Sync, run_id: str) -> None:
        """Every profile identified since the cursor (first run: in the last trigger
        interval), then the profiles the planner held back, upserted in batches; the cursor
        (the ``seq`` of the last event read) advances with every batch."""
        size = min(BATCH, int(sync.config.get("batch_size") or BATCH))
        started = self.now()
        if "seq" not in (sync.cursor or {}):
            every = float(sync.trigger.get("every_seconds") or 1800)
            first = await self._first_seq(sync, started - timedelta(seconds=every))
            await self._checkpoint(sync, run_id, {"seq": first}, _Tally())
        # Events this recent may still have neighbours with a lower seq in transactions
        # that did not commit yet (PostgreSQL): the next run reads them.
        settled = started - timedelta(seconds=SETTLE_SECONDS)
        while True:
            after = int((sync.cursor or {}).get("seq") or 0)
            async with self.hub.database.read() as connection:
                ids, last = await self._identified(connection, sync, after, settled, size)
                found = await _load_profiles(connection, ids)
            if not ids:
                if last == after:
                    break
                # Only events without a profile (or an email): move past them.
                await self._checkpoint(sync, run_id, {"seq": last}, _Tally())
                continue
            await self._send_profiles(sync, run_id, found, {"seq": last})
        # The changes the planner coalesced (and any left by a parked realtime push).
        while True:
            async with self.hub.database.read() as connection:
                subjects = [
                    row.subject
                    for row in await connection.execute(
                        select(sync_pending.c.subject)
                        .where(sync_pending.c.sync_id == sync.id)
                        .order_by(sync_pending.c.subject)
                        .limit(size)
                    )
                ]
                by_email = await _profiles_by_email(connection, subjects)
            if not subjects:
                return
            found = list({p.id: p for p in by_email.values()}.values())
            await self._send_profiles(sync, run_id, found, None, extra=subjects)

    def _batch_events(self, sync: Sync) -> list[str]:
        return sync.realtime_events or ["identify"]

    async def _first_seq(self, sync: Sync, since: datetime) -> int:
        """The cursor before the first event received at or after ``since``."""
        types = self._batch_events(sync)
        async with self.hub.database.read() as connection:
            first = (
                await connection.execute(
                    select(func.min(events_table.c.seq)).where(
                        events_table.c.type.in_(types), events_table.c.received_at >= since
                    )
                )
            ).scalar()
            if first is not None:
                return int(first) - 1
            last = (await connection.execute(select(func.max(events_table.c.seq)))).scalar()
        return int(last or 0)

    async def _identified(
        self, connection: AsyncConnection, sync: Sync, after: int, settled: datetime, size: int
    ) -> tuple[list[str], int]:
        """Up to ``size`` profiles identified by events after seq ``after`` (received
        before ``settled``), in event order, and the seq of the last event they cover."""
        ids: dict[str, None] = {}
        last = after
        names = sync.trigger.get("names")
        while True:
            statement = (
                select(
                    events_table.c.seq,
                    events_table.c.user_id,
                    events_table.c.email,
                    events_table.c.anonymous_id,
                    events_table.c.received_at,
                )
                .where(
                    events_table.c.type.in_(self._batch_events(sync)),
                    events_table.c.seq > last,
                )
                .order_by(events_table.c.seq)
                .limit(_EVENT_PAGE)
            )
            if names:
                statement = statement.where(events_table.c.name.in_([str(n) for n in names]))
            rows = (await connection.execute(statement)).all()
            keyed = [
                (int(row.seq), _row_identities(row))
                for row in itertools.takewhile(lambda row: row.received_at <= settled, rows)
            ]
            owners = await _owners(connection, [key for _, keys in keyed for key in keys])
            for seq, keys in keyed:
                owner = next((owners[key] for key in keys if key in owners), None)
                if owner is not None and owner not in ids:
                    if len(ids) == size:
                        return list(ids), last
                    ids[owner] = None
                last = seq
            if len(keyed) < len(rows) or len(rows) < _EVENT_PAGE:
                return list(ids), last

    async def _profile_by_email(self, connection: AsyncConnection, email: str) -> Profile | None:
        found = await find_profiles(
            connection, ProfileQuery(identities=[("email", email)], limit=1)
        )
        return found[0] if found else None

    def _lead_record(self, sync: Sync, profile: Profile, tally: _Tally) -> dict[str, Any] | None:
        document = profile_document(profile)
        email = document["email"]
        if not email:
            tally.add("skipped")
            return None
        mapping = mapping_of(sync.config)
        if mapping is None:
            record: dict[str, Any] = {
                k: v
                for k, v in document["traits"].items()
                if isinstance(v, str | int | float | bool)
            }
        else:
            result = mapping.apply(document)
            record = dict(result.record)
            for problem in result.problems:
                tally.errors.append({"profile_id": profile.id, "problem": str(problem)})
        record["email"] = email
        return jsonable(record)  # type: ignore[no-any-return]

    async def _send_profiles(
        self,
        sync: Sync,
        run_id: str,
        found: Sequence[Profile],
        cursor: dict[str, Any] | None,
        *,
        extra: Sequence[str] = (),
    ) -> None:
        tally = _Tally()
        tally.add("read", len(found))
        pairs = [(p, r) for p in found if (r := self._lead_record(sync, p, tally)) is not None]
        outcomes: list[Any] = []
        if pairs:
            operation = "upsert_leads" if sync.object == "leads" else "upsert_contacts"
            result = await self._call(sync, operation, [r for _, r in pairs], tally)
            outcomes = list(result.records)
        subjects = {str(r["email"]).lower() for _, r in pairs} | {s for s in extra}
        async with self.hub.database.transaction() as tx:
            await self._record_outcomes(tx, sync, [p for p, _ in pairs], outcomes, tally)
            if subjects:
                await tx.execute(
                    delete(sync_pending).where(
                        sync_pending.c.sync_id == sync.id,
                        sync_pending.c.subject.in_(sorted(subjects)),
                    )
                )
            await self._checkpoint(sync, run_id, cursor, tally, tx=tx)

    async def _record_outcomes(
        self,
        tx: AsyncConnection,
        sync: Sync,
        profiles: Sequence[Profile],
        outcomes: Sequence[Any],
        tally: _Tally,
    ) -> None:
        now = self.now()
        for profile, outcome in zip(profiles, outcomes, strict=False):
            status = getattr(outcome, "status", None)
            if getattr(outcome, "ok", False) or status in ("created", "updated"):
                tally.add("created" if status == "created" else "updated")
                vendor_id = getattr(outcome, "id", None)
                kind = LEAD_ID if sync.object == "leads" else CONTACT_ID
                connection_id = (await self._connection(tx, sync.connection)).id
                if vendor_id and str(vendor_id) not in vendor_ids(profile, kind, connection_id):
                    _, value = vendor_identity(kind, connection_id, str(vendor_id))
                    with contextlib.suppress(IdentityConflict, ValueError, LookupError):
                        await attach_identity(tx, profile.id, kind, value, now=now)
            else:
                tally.error(
                    str(getattr(outcome, "message", "rejected")),
                    profile_id=profile.id,
                    code=str(getattr(outcome, "code", "")),
                )

    # --- jobs that died ---------------------------------------------------------------------

    async def job_died(self, task: str, payload: dict[str, Any], error: str) -> None:
        """The ``on_dead`` hook of the sync tasks: the job will not run again. A run's job
        fails its run with the job's error (unless the run finished meanwhile, e.g. failed
        with a permanent error); a realtime push adds a failure, and why, to the day's
        realtime run of its sync."""
        reason = died(task, error)
        async with self.hub.database.transaction() as tx:
            if task == RUN_TASK:
                await model.fail_run(tx, str(payload["run_id"]), reason, now=self.now())
            else:
                sync = await model.find_sync(tx, str(payload["sync_id"]))
                if sync is None:
                    return
                run_id = await self._realtime_run(tx, sync)
                entry: dict[str, Any] = {"message": reason}
                entry |= {k: str(payload[k]) for k in ("subject", "event_id") if k in payload}
                await model.add_to_run(tx, run_id, {"failed": 1}, [entry])
        log.warning("sync.job_died", task=task, payload=payload, error=reason)

    # --- realtime --------------------------------------------------------------------------

    async def _realtime_run(self, tx: AsyncConnection, sync: Sync) -> str:
        """Realtime calls add up in one run per sync and UTC day (its id kept in memory)."""
        day = self.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        known = self._realtime_runs.get(sync.id)
        if known is not None and known[0] == day:
            return known[1]
        found = (
            await tx.execute(
                select(sync_runs.c.id)
                .where(
                    sync_runs.c.sync_id == sync.id,
                    sync_runs.c.trigger == "realtime",
                    sync_runs.c.started_at >= day,
                )
                .order_by(sync_runs.c.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if found is None:
            found = await model.new_run(tx, sync.id, "realtime", now=self.now())
            await model.add_to_run(tx, found, {}, [], status="running")
        self._realtime_runs[sync.id] = (day, str(found))
        return str(found)

    async def push_profile(self, sync_id: str, subject: str) -> None:
        async with self.hub.database.read() as connection:
            sync = await model.find_sync(connection, sync_id)
            profile = await self._profile_by_email(connection, subject)
        if sync is None:
            raise GiveUp(f"sync {sync_id} is gone")
        tally = _Tally()
        record = None if profile is None else self._lead_record(sync, profile, tally)
        outcomes: list[Any] = []
        if record is not None and profile is not None:
            operation = "upsert_leads" if sync.object == "leads" else "upsert_contacts"
            try:
                result = await self._call(sync, operation, [record], tally)
            except RetryLater as exc:
                if exc.at is None:
                    raise
                # The quota is spent: the change waits for the batch after the reset.
                await self.hold_back(sync, subject)
                return
            outcomes = list(result.records)
        async with self.hub.database.transaction() as tx:
            run_id = await self._realtime_run(tx, sync)
            tally.add("read", 0 if profile is None else 1)
            if profile is not None:
                await self._record_outcomes(tx, sync, [profile], outcomes, tally)
            await model.add_to_run(tx, run_id, tally.counts, tally.errors)
            await self._check_alerts(tx, sync, tally)

    async def hold_back(self, sync: Sync, subject: str) -> None:
        from renkei.syncs.realtime import hold

        async with self.hub.database.transaction() as tx:
            await hold(self.hub, tx, sync.id, subject)

    async def push_event(self, sync_id: str, event_id: str) -> None:
        async with self.hub.database.read() as connection:
            sync = await model.find_sync(connection, sync_id)
            row = (
                await connection.execute(select(events_table).where(events_table.c.id == event_id))
            ).first()
            profile = None
            if row is not None and row.email:
                profile = await self._profile_by_email(connection, str(row.email).lower())
            if profile is None and row is not None and row.user_id:
                found = await find_profiles(
                    connection, ProfileQuery(identities=[("user_id", row.user_id)], limit=1)
                )
                profile = found[0] if found else None
        if sync is None or row is None:
            raise GiveUp(f"sync {sync_id} or event {event_id} is gone")
        tally = _Tally()
        tally.add("read")
        connection_id = (await self._connection(None, sync.connection)).id
        lead_ids = [] if profile is None else vendor_ids(profile, LEAD_ID, connection_id)
        if not lead_ids and profile is not None and profile_email(profile):
            # Unknown to Marketo yet: create the lead first (createOrUpdate on email).
            result = await self._call(
                sync, "upsert_leads", [{"email": profile_email(profile)}], tally
            )
            first = result.records[0] if result.records else None
            if first is not None and getattr(first, "id", None):
                lead_ids = [str(first.id)]
                async with self.hub.database.transaction() as tx:
                    _, value = vendor_identity(LEAD_ID, connection_id, lead_ids[0])
                    await attach_identity(tx, profile.id, LEAD_ID, value, now=self.now())
        if not lead_ids:
            tally.add("skipped")
        else:
            activity = self._activity(sync, row, int(lead_ids[-1]))
            result = await self._call(sync, "add_activities", [activity], tally)
            for outcome in result.records:
                if getattr(outcome, "ok", False):
                    tally.add("created")
                else:
                    tally.error(str(getattr(outcome, "message", "rejected")), event_id=event_id)
        async with self.hub.database.transaction() as tx:
            run_id = await self._realtime_run(tx, sync)
            await model.add_to_run(tx, run_id, tally.counts, tally.errors)
            await self._check_alerts(tx, sync, tally)

    def _activity(self, sync: Sync, row: Any, lead_id: int) -> dict[str, Any]:
        config = sync.config
        properties = (row.data or {}).get("properties") or {}
        occurred = row.occurred_at
        activity: dict[str, Any] = {
            "leadId": lead_id,
            "activityDate": occurred.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "primaryAttributeValue": str(row.name or row.type),
            "attributes": [
                {"name": "Event Id", "apiName": "eventId", "value": row.id},
                {
                    "name": "Properties",
                    "apiName": "properties",
                    "value": json.dumps(jsonable(properties), sort_keys=True)[:60000],
                },
            ],
        }
        if config.get("activity_type_id"):
            activity["activityTypeId"] = int(config["activity_type_id"])
        return activity


def died(task: str, error: str) -> str:
    """A run's error when its job failed for good (redacted: job errors may quote URLs)."""
    return f"the {task} job failed for good: {redact_text(error)}"[:500]


# --- profiles in bulk ------------------------------------------------------------------------


def _row_identities(row: Any) -> list[tuple[str, str]]:
    """The identities of a stored event, as :func:`event_identities` gives them."""
    return event_identities(
        Event(
            id="",
            type="",
            name=None,
            data={},
            occurred_at=row.received_at,
            received_at=row.received_at,
            source_id="",
            user_id=row.user_id,
            anonymous_id=row.anonymous_id,
            email=row.email,
        )
    )


async def _owners(
    connection: AsyncConnection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The profiles holding these identities (identities follow merges to the winner)."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in dict.fromkeys(keys):
        by_kind.setdefault(kind, []).append(value)
    owners: dict[tuple[str, str], str] = {}
    for kind, values in by_kind.items():
        for start in range(0, len(values), _IN_CHUNK):
            rows = await connection.execute(
                select(identities.c.value, identities.c.profile_id).where(
                    identities.c.kind == kind,
                    identities.c.value.in_(values[start : start + _IN_CHUNK]),
                )
            )
            for value, profile_id in rows:
                owners[(kind, value)] = profile_id
    return owners


def _first_owner(resolver: ProfileResolver, keys: Sequence[tuple[str, str]]) -> str | None:
    return next((owner for key in keys if (owner := resolver.owner(key)) is not None), None)


async def _current_traits(
    connection: AsyncConnection, ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _IN_CHUNK):
        rows = await connection.execute(
            select(profiles_table.c.id, profiles_table.c.traits).where(
                profiles_table.c.id.in_(unique[start : start + _IN_CHUNK])
            )
        )
        for profile_id, traits in rows:
            found[profile_id] = dict(traits or {})
    return found


async def _load_profiles(connection: AsyncConnection, ids: Sequence[str]) -> list[Profile]:
    """Profiles by id, with their identities, in two queries per 500."""
    found: dict[str, Profile] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = list(ids[start : start + _IN_CHUNK])
        for row in await connection.execute(
            select(profiles_table).where(
                profiles_table.c.id.in_(chunk), profiles_table.c.merged_into.is_(None)
            )
        ):
            found[row.id] = Profile(
                row.id, [], dict(row.traits or {}), row.created_at, row.updated_at
            )
        for row in await connection.execute(
            select(identities)
            .where(identities.c.profile_id.in_(chunk))
            .order_by(identities.c.created_at, identities.c.kind, identities.c.value)
        ):
            if row.profile_id in found:
                found[row.profile_id].identities.append(
                    Identity(row.kind, row.value, row.created_at)
                )
    return [found[profile_id] for profile_id in ids if profile_id in found]


async def _profiles_by_email(
    connection: AsyncConnection, emails: Sequence[str]
) -> dict[str, Profile]:
    """``{email: profile}`` for the emails (lower-case) a profile holds."""
    owners = await _owners(connection, [("email", email) for email in emails])
    loaded = {
        p.id: p for p in await _load_profiles(connection, list(dict.fromkeys(owners.values())))
    }
    return {
        value: loaded[profile_id]
        for (_, value), profile_id in owners.items()
        if profile_id in loaded
    }
