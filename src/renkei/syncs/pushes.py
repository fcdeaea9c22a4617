"""Pushes of profiles (:class:`PushProfiles`): the batch of a run and the realtime push of
one user. A record is the profile through the sync's mapping (without one: every scalar
trait), always with its email; the vendor id each outcome answers is attached to the
profile as the declared identity."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors.sync_objects import PushProfiles
from renkei.events.profiles import (
    IdentityConflict,
    Profile,
    attach_identity,
    identities_of,
    load_profiles,
    profile_owners,
    profile_with,
    profiles_by_email,
    upsert_profile_traits,
    vendor_identity,
    vendor_ids,
)
from renkei.events.suppressions import suppressed_profiles
from renkei.queue import RetryLater
from renkei.store.tables.core import events as events_table
from renkei.store.tables.syncs import sync_pending
from renkei.syncs import model
from renkei.syncs.changes import outcome_of, record_changes
from renkei.syncs.model import Sync
from renkei.syncs.records import jsonable, mapping_of, profile_document
from renkei.syncs.tally import Tally

if TYPE_CHECKING:
    from renkei.syncs.engine import SyncEngine

__all__ = ["SETTLE_SECONDS", "push_profile", "push_profiles"]

SETTLE_SECONDS = 10.0
"""A batch push reads identify events at least this old (see :func:`push_profiles`)."""
_EVENT_PAGE = 1000


async def push_profiles(
    engine: SyncEngine, sync: Sync, run_id: str, declared: PushProfiles
) -> None:
    """Every profile identified since the cursor (first run: in the last trigger
    interval), then the profiles the planner held back, upserted in batches; the cursor
    (the ``seq`` of the last event read) advances with every batch."""
    size = min(declared.batch_size, int(sync.config.get("batch_size") or declared.batch_size))
    started = engine.now()
    if "seq" not in (sync.cursor or {}):
        every = float(sync.trigger.get("every_seconds") or 1800)
        first = await _first_seq(engine, sync, started - timedelta(seconds=every))
        await engine.checkpoint(sync, run_id, {"seq": first}, Tally())
    # Events this recent may still have neighbours with a lower seq in transactions
    # that did not commit yet (with many writers): the next run reads them.
    settled = started - timedelta(seconds=SETTLE_SECONDS)
    while True:
        after = int((sync.cursor or {}).get("seq") or 0)
        async with engine.hub.database.read() as connection:
            ids, last = await _identified(connection, sync, after, settled, size)
            found = await load_profiles(connection, ids)
        if not ids:
            if last == after:
                break
            # Only events without a profile (or an email): move past them.
            await engine.checkpoint(sync, run_id, {"seq": last}, Tally())
            continue
        await _send(engine, sync, declared, run_id, found, {"seq": last})
    # The changes the planner coalesced (and any left by a parked realtime push).
    while True:
        async with engine.hub.database.read() as connection:
            subjects = [
                row.subject
                for row in await connection.execute(
                    select(sync_pending.c.subject)
                    .where(sync_pending.c.sync_id == sync.id)
                    .order_by(sync_pending.c.subject)
                    .limit(size)
                )
            ]
            by_email = await profiles_by_email(connection, subjects)
        if not subjects:
            return
        found = list({p.id: p for p in by_email.values()}.values())
        await _send(engine, sync, declared, run_id, found, None, extra=subjects)


async def push_profile(
    engine: SyncEngine, sync: Sync, declared: PushProfiles, subject: str, *, event_id: str | None
) -> None:
    """The realtime push of one user (``subject``: the email), counted in the day's
    realtime run and recorded as a change of ``event_id`` (the event that queued it); with
    the quota spent, the change waits for the batch after the reset."""
    link = declared.cookie_link
    cookie = None
    if link is not None and subject.startswith(f"{link.identity}:"):
        cookie = subject.removeprefix(f"{link.identity}:")
    async with engine.hub.database.read() as connection:
        if cookie is None:
            profile = await profile_with(connection, "email", subject)
        else:
            profile = await _profile_of_event(connection, event_id)
        if profile is not None and await suppressed_profiles(engine.hub, connection, [profile]):
            profile = None  # a suppressed person: nothing is sent about them
    tally = Tally()
    record = None
    if profile is not None:
        record = _profile_record(sync, profile, tally, cookie=cookie)
    outcomes: list[Any] = []
    if record is not None and profile is not None:
        write = declared.write if link is None or cookie is None else link.write
        try:
            result = await engine.call(sync, write, [record], tally)
        except RetryLater as exc:
            if exc.at is None:
                raise
            if cookie is None:  # a cookie link is realtime only: it is not held back
                await engine.hold_back(sync, subject)
            return
        outcomes = list(result.records)
    async with engine.hub.database.transaction() as tx:
        run_id = await engine.realtime_run(tx, sync)
        tally.add("read", 0 if profile is None else 1)
        if profile is not None:
            await _record_outcomes(engine, tx, sync, declared, [profile], outcomes, tally)
            if link is not None and cookie is not None and outcomes and outcomes[0].ok:
                with contextlib.suppress(IdentityConflict, ValueError, LookupError):
                    await attach_identity(tx, profile.id, link.identity, cookie, now=engine.now())
        if event_id is not None:
            await record_changes(
                tx,
                event_id=event_id,
                sync=sync,
                object=sync.object,
                outcomes=[outcome_of(outcome, ok="updated") for outcome in outcomes],
                now=engine.now(),
            )
        await model.add_to_run(tx, run_id, tally.counts, tally.errors)
        await engine.check_alerts(tx, sync, tally)


def _batch_events(sync: Sync) -> list[str]:
    return sync.realtime_events or ["identify"]


async def _first_seq(engine: SyncEngine, sync: Sync, since: datetime) -> int:
    """The cursor before the first event received at or after ``since``."""
    async with engine.hub.database.read() as connection:
        first = (
            await connection.execute(
                select(func.min(events_table.c.seq)).where(
                    events_table.c.type.in_(_batch_events(sync)),
                    events_table.c.received_at >= since,
                )
            )
        ).scalar()
        if first is not None:
            return int(first) - 1
        last = (await connection.execute(select(func.max(events_table.c.seq)))).scalar()
    return int(last or 0)


async def _identified(
    connection: AsyncConnection, sync: Sync, after: int, settled: datetime, size: int
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
                events_table.c.type.in_(_batch_events(sync)),
                events_table.c.seq > last,
            )
            .order_by(events_table.c.seq)
            .limit(_EVENT_PAGE)
        )
        if names:
            statement = statement.where(events_table.c.name.in_([str(n) for n in names]))
        rows = (await connection.execute(statement)).all()
        keyed = [
            (int(row.seq), identities_of(row.user_id, row.email, row.anonymous_id))
            for row in itertools.takewhile(lambda row: row.received_at <= settled, rows)
        ]
        owners = await profile_owners(connection, [key for _, keys in keyed for key in keys])
        for seq, keys in keyed:
            owner = next((owners[key] for key in keys if key in owners), None)
            if owner is not None and owner not in ids:
                if len(ids) == size:
                    return list(ids), last
                ids[owner] = None
            last = seq
        if len(keyed) < len(rows) or len(rows) < _EVENT_PAGE:
            return list(ids), last


async def _profile_of_event(connection: AsyncConnection, event_id: str | None) -> Profile | None:
    """The profile the event that queued a cookie link resolved to."""
    if event_id is None:
        return None
    row = (
        await connection.execute(
            select(events_table.c.user_id, events_table.c.email, events_table.c.anonymous_id).where(
                events_table.c.id == event_id
            )
        )
    ).first()
    if row is None:
        return None
    keys = identities_of(row.user_id, row.email, row.anonymous_id)
    owners = await profile_owners(connection, keys)
    owner = next((owners[key] for key in keys if key in owners), None)
    found = await load_profiles(connection, [owner]) if owner else []
    return found[0] if found else None


def _profile_record(
    sync: Sync, profile: Profile, tally: Tally, *, cookie: str | None = None
) -> dict[str, Any] | None:
    """What a push sends for ``profile`` (None, counted skipped, without an email); a
    cookie link sends the cookie, and the email only when the profile has one by now."""
    document = profile_document(profile)
    email = document["email"]
    if not email and cookie is None:
        tally.add("skipped")
        return None
    mapping = mapping_of(sync.config)
    if mapping is None:
        record: dict[str, Any] = {
            k: v for k, v in document["traits"].items() if isinstance(v, str | int | float | bool)
        }
    else:
        result = mapping.apply(document)
        record = dict(result.record)
        for problem in result.problems:
            tally.errors.append({"profile_id": profile.id, "problem": str(problem)})
    record.pop("email", None)
    if email:
        record["email"] = email
    if cookie is not None:
        record["cookie"] = cookie
    return jsonable(record)  # type: ignore[no-any-return]


async def _send(
    engine: SyncEngine,
    sync: Sync,
    declared: PushProfiles,
    run_id: str,
    found: Sequence[Profile],
    cursor: dict[str, Any] | None,
    *,
    extra: Sequence[str] = (),
) -> None:
    tally = Tally()
    tally.add("read", len(found))
    async with engine.hub.database.read() as connection:
        suppressed = await suppressed_profiles(engine.hub, connection, found)
    pairs = [
        (p, r)
        for p in found
        if p.id not in suppressed and (r := _profile_record(sync, p, tally)) is not None
    ]
    outcomes: list[Any] = []
    if pairs:
        result = await engine.call(sync, declared.write, [r for _, r in pairs], tally)
        outcomes = list(result.records)
    subjects = {str(r["email"]).lower() for _, r in pairs} | {s for s in extra}
    async with engine.hub.database.transaction() as tx:
        await _record_outcomes(engine, tx, sync, declared, [p for p, _ in pairs], outcomes, tally)
        if subjects:
            await tx.execute(
                delete(sync_pending).where(
                    sync_pending.c.sync_id == sync.id,
                    sync_pending.c.subject.in_(sorted(subjects)),
                )
            )
        await engine.checkpoint(sync, run_id, cursor, tally, tx=tx)


async def _record_outcomes(
    engine: SyncEngine,
    tx: AsyncConnection,
    sync: Sync,
    declared: PushProfiles,
    profiles: Sequence[Profile],
    outcomes: Sequence[Any],
    tally: Tally,
) -> None:
    now = engine.now()
    kind = declared.identity
    credentials: dict[str, str] | None = None
    for profile, outcome in zip(profiles, outcomes, strict=False):
        status = getattr(outcome, "status", None)
        if getattr(outcome, "ok", False) or status in ("created", "updated"):
            tally.add("created" if status == "created" else "updated")
            vendor_id = getattr(outcome, "id", None)
            connection_id = (await engine.connection_row(tx, sync.connection)).id
            if vendor_id and str(vendor_id) not in vendor_ids(profile, kind, connection_id):
                _, value = vendor_identity(kind, connection_id, str(vendor_id))
                with contextlib.suppress(IdentityConflict, ValueError, LookupError):
                    await attach_identity(tx, profile.id, kind, value, now=now)
            if declared.derived_traits is not None:
                if credentials is None:  # decrypted once per batch, only when needed
                    row = await engine.connection_row(tx, sync.connection)
                    credentials = row.decrypt(engine.hub.keyring)
                await _derive_traits(engine, tx, declared, profile, credentials)
        else:
            tally.error(
                str(getattr(outcome, "message", "rejected")),
                profile_id=profile.id,
                code=str(getattr(outcome, "code", "")),
            )


async def _derive_traits(
    engine: SyncEngine,
    tx: AsyncConnection,
    declared: PushProfiles,
    profile: Profile,
    credentials: dict[str, str],
) -> None:
    """The traits the connection derives from a pushed profile (a hash of the email with a
    key from the connection's credentials, say), set on the profile so flows and templates
    can use them (written only when they changed)."""
    email = profile_document(profile)["email"]
    if declared.derived_traits is None or not email:
        return
    traits = declared.derived_traits(credentials, str(email))
    changed = {
        name: value
        for name, value in traits.items()
        if (profile.traits.get(name) or {}).get("value") != value
    }
    if changed:
        with contextlib.suppress(LookupError):
            await upsert_profile_traits(tx, profile.id, changed, now=engine.now())
