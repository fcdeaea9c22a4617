"""Event sources: tracking sources (write keys) and inbound webhook sources (verification,
mapping), their secrets, the raw requests a webhook source received, and replaying one.

Every change makes this process's ingest forget its cached sources at once (other
processes notice within their cache time). ``by_name``: the reference is a name first,
else an id (the CLI's arguments). ``via`` names the door a local actor came in by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.delivery import event_types as catalog
from renkei.errors import NotFound, Unavailable
from renkei.events import inbound
from renkei.events import sources as service
from renkei.events.ingest import Overloaded, StorageUnavailable
from renkei.events.preset_catalog import PRESETS
from renkei.events.presets import EventTypeSpec, InvalidPreset, Preset, configure
from renkei.events.sources import PLAN_OFF, CreatedSource, Source, SourceChanges
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor
from renkei.usecases.via import with_via

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = [
    "Replayed",
    "create_source",
    "delete_source",
    "get_preset",
    "get_request",
    "get_source",
    "list_presets",
    "list_requests",
    "list_sources",
    "replay_request",
    "reveal_secret",
    "rotate_secret",
    "set_enabled",
    "set_plan_mode",
    "update_source",
]

DATABASE_RETRY_SECONDS = 5


class PresetNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__("preset", name)


@dataclass(frozen=True, slots=True)
class Replayed:
    event_ids: list[str]
    stored: int  # events that were not stored before


async def _find(connection: AsyncConnection, ref: str, *, by_name: bool) -> Source:
    if by_name:
        found = await service.get_source_by_name(connection, ref)
        if found is not None:
            return found
    return await service.get_source(connection, ref)


async def create_source(
    hub: Hub,
    actor: Actor,
    *,
    kind: str,
    name: str,
    description: str = "",
    enabled: bool = True,
    verification: Mapping[str, Any] | None = None,
    mapping: Mapping[str, Any] | None = None,
    plan_mode: str | None = None,
    preset: str | None = None,
    settings: Mapping[str, Any] | None = None,
    via: str | None = None,
) -> CreatedSource:
    """A new source; its write key (tracking) or generated secret (webhook) is shown once.

    ``preset`` (a webhook source) sets the verification and mapping for that vendor from
    ``settings`` (see ``list_presets``); ``mapping`` may still replace the preset's. The
    preset's event types that are not registered yet are, in the same transaction.
    """
    require(actor, "write")
    chosen: Preset | None = None
    if preset is not None:
        if kind != "webhook":
            raise InvalidPreset("a preset makes a webhook source", details={"field": "kind"})
        if verification is not None:
            raise InvalidPreset(
                "a preset sets the verification: give its settings instead",
                details={"field": "verification"},
            )
        chosen, verification, preset_mapping = configure(PRESETS, preset, settings)
        mapping = preset_mapping if mapping is None else mapping
    elif settings:
        raise InvalidPreset("settings are given with a preset", details={"field": "settings"})
    async with hub.database.transaction() as tx:
        created = await service.create_source(
            tx,
            hub.keyring,
            kind=kind,
            name=name,
            description=description,
            enabled=enabled,
            verification=verification,
            mapping=mapping,
            plan_mode=plan_mode,
            now=hub.clock.now(),
        )
        details: dict[str, Any] = {"name": created.source.name, "kind": created.source.kind}
        if chosen is not None:
            details["preset"] = chosen.name
            details["event_types"] = await _register(hub, tx, chosen.event_types)
        await hub.audit(
            tx,
            actor,
            "source.created",
            target_type="source",
            target_id=created.source.id,
            details=with_via(via, details),
        )
    hub.ingest.invalidate()
    return created


async def _register(
    hub: Hub, connection: AsyncConnection, kinds: tuple[EventTypeSpec, ...]
) -> list[str]:
    """Register the event types that do not exist yet; returns their names."""
    added: list[str] = []
    for kind in kinds:
        try:
            await catalog.get_event_type(connection, kind.name)
            continue
        except NotFound:
            pass
        await catalog.create_event_type(
            connection,
            name=kind.name,
            description=kind.description,
            schema=dict(kind.schema),
            example=None,
            now=hub.clock.now(),
        )
        added.append(kind.name)
    return added


def get_preset(actor: Actor, name: str) -> Preset:
    require(actor, "read")
    preset = PRESETS.get(name)
    if preset is None:
        raise PresetNotFound(name)
    return preset


def list_presets(actor: Actor) -> list[Preset]:
    """The inbound presets, by name, with what each needs from the user."""
    require(actor, "read")
    return [PRESETS[name] for name in sorted(PRESETS)]


async def list_sources(
    hub: Hub,
    actor: Actor,
    *,
    kind: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Listed[Source]:
    """Sources by id (never their secrets)."""
    require(actor, "read")
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    async with hub.database.read() as connection:
        found = await service.list_sources(
            connection, kind=kind, limit=size + 1, after=str(after) if after else None
        )
    return Listed.cut(found, size, lambda source: source.id)


async def get_source(hub: Hub, actor: Actor, ref: str, *, by_name: bool = False) -> Source:
    require(actor, "read")
    async with hub.database.read() as connection:
        return await _find(connection, ref, by_name=by_name)


async def _change(
    hub: Hub,
    actor: Actor,
    ref: str,
    changes: SourceChanges,
    action: str,
    *,
    by_name: bool,
    via: str | None,
) -> Source:
    require(actor, "write")
    async with hub.database.transaction() as tx:
        source_id = (await _find(tx, ref, by_name=by_name)).id
        source = await service.update_source(
            tx, hub.keyring, source_id, changes, now=hub.clock.now()
        )
        fields = sorted(name for name, value in asdict(changes).items() if value is not None)
        await hub.audit(
            tx,
            actor,
            action,
            target_type="source",
            target_id=source_id,
            details=with_via(via, {"fields": fields}),
        )
    hub.ingest.invalidate()
    return source


async def update_source(
    hub: Hub, actor: Actor, source_id: str, changes: SourceChanges, *, via: str | None = None
) -> Source:
    """Change the fields given (``None``: unchanged)."""
    return await _change(hub, actor, source_id, changes, "source.updated", by_name=False, via=via)


async def set_enabled(
    hub: Hub,
    actor: Actor,
    ref: str,
    enabled: bool,
    *,
    by_name: bool = False,
    via: str | None = None,
) -> Source:
    """Accept events from the source again, or refuse them (403) until enabled."""
    action = "source.enabled" if enabled else "source.disabled"
    changes = SourceChanges(enabled=enabled)
    return await _change(hub, actor, ref, changes, action, by_name=by_name, via=via)


async def set_plan_mode(
    hub: Hub,
    actor: Actor,
    ref: str,
    mode: str | None,
    *,
    by_name: bool = False,
    via: str | None = None,
) -> Source:
    """What a tracking source does with events off its tracking plan: ``allow``,
    ``omit_properties`` or ``block``; None stops checking."""
    changes = SourceChanges(plan_mode=PLAN_OFF if mode is None else mode)
    return await _change(hub, actor, ref, changes, "source.updated", by_name=by_name, via=via)


async def delete_source(
    hub: Hub, actor: Actor, ref: str, *, by_name: bool = False, via: str | None = None
) -> str:
    """Delete a source and its stored raw requests (its events stay); returns its id."""
    require(actor, "write")
    async with hub.database.transaction() as tx:
        source_id = (await _find(tx, ref, by_name=by_name)).id
        await service.delete_source(tx, source_id)
        await hub.audit(
            tx,
            actor,
            "source.deleted",
            target_type="source",
            target_id=source_id,
            details=with_via(via),
        )
    hub.ingest.invalidate()
    return source_id


async def reveal_secret(
    hub: Hub, actor: Actor, ref: str, *, by_name: bool = False, via: str | None = None
) -> dict[str, str]:
    """The write key of a tracking source, or the secrets of a webhook source (admin;
    audited)."""
    require(actor, "admin")
    async with hub.database.transaction() as tx:
        source_id = (await _find(tx, ref, by_name=by_name)).id
        revealed = await service.reveal_secret(tx, hub.keyring, source_id)
        await hub.audit(
            tx,
            actor,
            "source.secret_revealed",
            target_type="source",
            target_id=source_id,
            details=with_via(via),
        )
    return revealed


async def rotate_secret(
    hub: Hub,
    actor: Actor,
    ref: str,
    *,
    secret: str | None = None,
    by_name: bool = False,
    via: str | None = None,
) -> dict[str, str]:
    """A new write key (the old one stops working at once) or verification secret
    (``secret``: the vendor-issued one; else generated)."""
    require(actor, "admin")
    async with hub.database.transaction() as tx:
        source_id = (await _find(tx, ref, by_name=by_name)).id
        rotated = await service.rotate_secret(
            tx, hub.keyring, source_id, now=hub.clock.now(), secret=secret
        )
        await hub.audit(
            tx,
            actor,
            "source.secret_rotated",
            target_type="source",
            target_id=source_id,
            details=with_via(via),
        )
    hub.ingest.invalidate()
    return rotated


async def list_requests(
    hub: Hub,
    actor: Actor,
    source_id: str,
    *,
    limit: int | None = None,
    cursor: str | None = None,
) -> Listed[dict[str, Any]]:
    """Raw requests this webhook source received (verified ones only), newest first."""
    require(actor, "read")
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    async with hub.database.read() as connection:
        await service.get_source(connection, source_id)
        rows = await inbound.list_requests(
            connection, source_id, limit=size + 1, before=str(before) if before else None
        )
    listed = Listed.cut(rows, size, lambda row: row.id)
    return Listed([inbound.request_dict(row) for row in listed.items], listed.next_cursor)


async def get_request(hub: Hub, actor: Actor, source_id: str, request_id: str) -> dict[str, Any]:
    """One stored request, with its body."""
    require(actor, "read")
    async with hub.database.read() as connection:
        row = await inbound.get_request(connection, source_id, request_id)
    return inbound.request_dict(row, with_body=True)


async def replay_request(
    hub: Hub, actor: Actor, source_id: str, request_id: str, *, via: str | None = None
) -> Replayed:
    """Map a stored request again (with the current mapping) and store its events."""
    require(actor, "write")
    try:
        events, fresh = await inbound.replay_request(hub.ingest, source_id, request_id)
    except Overloaded as exc:
        raise Unavailable(str(exc), retry_after=exc.retry_after) from exc
    except StorageUnavailable as exc:
        raise Unavailable(
            "the database is unreachable",
            code="database_unavailable",
            retry_after=DATABASE_RETRY_SECONDS,
        ) from exc
    async with hub.database.transaction() as tx:
        await hub.audit(
            tx,
            actor,
            "source.request_replayed",
            target_type="source",
            target_id=source_id,
            details=with_via(via, {"request_id": request_id, "events": len(events)}),
        )
    return Replayed([event.id for event in events], len(fresh))
