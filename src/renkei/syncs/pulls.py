"""Pulls: one page per read, stored together with the cursor after it.

A page's records land as profiles (:class:`PullProfiles`: matched by email, the vendor id
attached) or as events (:class:`PullEvents`: deduplicated by id). A worker that dies resumes
from the last committed page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors.sync_objects import PullEvents, PullProfiles
from renkei.events.envelope import Event, format_timestamp, parse_timestamp
from renkei.events.log import record_events
from renkei.events.profiles import (
    IdentityConflict,
    ProfileResolver,
    normalize_identity,
    profile_traits,
)
from renkei.syncs.model import Sync
from renkei.syncs.records import jsonable, mapping_of
from renkei.syncs.tally import Tally

if TYPE_CHECKING:
    from renkei.syncs.engine import SyncEngine

__all__ = ["pull"]


async def pull(
    engine: SyncEngine, sync: Sync, run_id: str, declared: PullProfiles | PullEvents
) -> None:
    while True:
        tally = Tally()
        page = await declared.read(engine.caller(sync, tally), sync.config, sync.cursor or {})
        tally.add("read", len(page.records) if page.read is None else page.read)
        async with engine.hub.database.transaction() as tx:
            if isinstance(declared, PullProfiles):
                await _store_profiles(engine, tx, sync, declared, page.records, tally)
            else:
                await _store_events(engine, tx, sync, declared, page.records, tally)
            await engine.checkpoint(sync, run_id, page.cursor, tally, tx=tx)
        if not page.more:
            return


async def _store_profiles(
    engine: SyncEngine,
    tx: AsyncConnection,
    sync: Sync,
    declared: PullProfiles,
    records: Sequence[dict[str, Any]],
    tally: Tally,
) -> None:
    """Vendor records to profiles: matched by email, the vendor id attached as
    ``declared.identity``.

    A pulled value is as of the record's ``declared.modified`` time: a trait changed here at
    that time or later keeps its value. One resolver for the page: identities read in one
    query, written once."""
    mapping = mapping_of(sync.config)
    now = engine.now()
    kind, modified = declared.identity, declared.modified
    connection_id = (await engine.connection_row(tx, sync.connection)).id
    keep = {str(f) for f in sync.config.get("fields") or []}
    resolver = ProfileResolver(tx, now=now)
    prepared: list[tuple[str, list[tuple[str, str]], dict[str, Any], datetime]] = []
    for record in records:
        email = record.get("email")
        record_id = str(record.get("id"))
        stamp = parse_timestamp(record.get(modified))
        at = now if stamp is None else min(stamp, now)
        if modified not in keep and not declared.modified_is_trait:
            record = {k: v for k, v in record.items() if k != modified}
        traits = {k: v for k, v in record.items() if k not in ("id",) and v is not None}
        if mapping is not None:
            mapped = mapping.apply({"lead": record, **record})
            traits = mapped.record
            for problem in mapped.problems:
                tally.errors.append({"lead_id": record_id, "problem": str(problem)})
        # The vendor id is the connection's: another instance's record #1 is someone else.
        raw = [(kind, f"{connection_id}:{record_id}")]
        if declared.identities is not None:
            raw[0:0] = declared.identities(record, sync.config)
        if isinstance(email, str) and "@" in email:
            raw.insert(0, ("email", email))
        try:
            keys = [normalize_identity(k, v) for k, v in raw]
        except ValueError as exc:
            tally.error(str(exc), lead_id=record_id)
            continue
        prepared.append((record_id, keys, jsonable(traits), at))
    await resolver.load([key for _, keys, _, _ in prepared for key in keys])
    current = await profile_traits(
        tx, [owner for _, keys, _, _ in prepared if (owner := _first_owner(resolver, keys))]
    )
    for record_id, keys, traits, at in prepared:
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
            tally.error(str(exc), lead_id=record_id)
            continue
        if profile_id is not None and traits:
            await resolver.merge_traits(profile_id, traits, at=at)
        tally.add("updated" if owner is not None else "created")
    await resolver.flush()


def _first_owner(resolver: ProfileResolver, keys: Sequence[tuple[str, str]]) -> str | None:
    return next((owner for key in keys if (owner := resolver.owner(key)) is not None), None)


async def _store_events(
    engine: SyncEngine,
    tx: AsyncConnection,
    sync: Sync,
    declared: PullEvents,
    records: Sequence[dict[str, Any]],
    tally: Tally,
) -> None:
    now = engine.now()
    events: list[Event] = []
    for record in records:
        pulled = declared.event(record, sync.config)
        events.append(
            Event(
                id=pulled.id,
                type=pulled.type,
                name=pulled.name,
                data=pulled.data,
                occurred_at=pulled.occurred_at or now,
                received_at=now,
                source_id=sync.id,
                user_id=pulled.user_id,
                email=pulled.email,
            )
        )
    fresh = await record_events(engine.hub, tx, events) if events else []
    tally.add("created", len(fresh))
    tally.add("skipped", len(events) - len(fresh))
