"""Outbound webhook endpoints: create, list, look, change, pause, resume, delete, the signing
secret, a test send, recovery and the attempts log.

``by_name``: the reference may be the endpoint's name as well as its id (the CLI's
arguments). ``via`` names the door a local actor came in by (``"cli"``); it is written into
the audit entry's details.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.delivery import endpoints as service
from renkei.delivery.endpoints import Endpoint, EndpointHealth
from renkei.delivery.problems import NotFoundProblem
from renkei.delivery.queries import list_attempts as attempts_of
from renkei.delivery.service import TestResult
from renkei.egress.ssrf import TargetPolicy
from renkei.errors import Conflict, NotFound
from renkei.security.targets import may_move_credentials, origin
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor
from renkei.usecases.via import with_via

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = [
    "Deleted",
    "EndpointView",
    "Paused",
    "Resumed",
    "create_endpoint",
    "delete_endpoint",
    "get_endpoint",
    "list_attempts",
    "list_endpoints",
    "pause_endpoint",
    "recover",
    "resume_endpoint",
    "reveal_secret",
    "rotate_secret",
    "send_test",
    "update_endpoint",
]


@dataclass(frozen=True, slots=True)
class EndpointView:
    """An endpoint and its health over the last 24 hours."""

    endpoint: Endpoint
    health: EndpointHealth


@dataclass(frozen=True, slots=True)
class Paused:
    endpoint: Endpoint  # as it was found
    changed: bool  # False: it was paused or disabled already


@dataclass(frozen=True, slots=True)
class Resumed:
    endpoint: Endpoint
    released: int  # held deliveries queued again


@dataclass(frozen=True, slots=True)
class Deleted:
    endpoint_id: str
    cancelled: int  # open deliveries cancelled


def _policy(hub: Hub) -> TargetPolicy:
    return TargetPolicy.from_settings(hub.settings)


def _may_move(actor: Actor) -> bool:
    """The operator at the machine holds the key already; a token needs ``admin``."""
    return actor is None or may_move_credentials(actor.scope)


async def _find(hub: Hub, connection: AsyncConnection, ref: str, *, by_name: bool) -> Endpoint:
    """The endpoint whose id (or, ``by_name``, whose name) is ``ref``."""
    try:
        return await service.get_endpoint(connection, hub.keyring, ref)
    except NotFoundProblem:
        if not by_name:
            raise
    named = [
        endpoint
        for endpoint in await service.list_endpoints(connection, hub.keyring, limit=100_000)
        if endpoint.name == ref
    ]
    if not named:
        raise NotFound("endpoint", ref)
    if len(named) > 1:
        ids = ", ".join(endpoint.id for endpoint in named)
        raise Conflict(f"several endpoints are named {ref}: {ids}; use the id")
    return named[0]


async def _view(hub: Hub, connection: AsyncConnection, endpoint: Endpoint) -> EndpointView:
    health = await service.endpoint_health(connection, [endpoint.id], now=hub.clock.now())
    return EndpointView(endpoint, health.get(endpoint.id, EndpointHealth()))


async def create_endpoint(
    hub: Hub,
    actor: Actor,
    fields: Mapping[str, Any],
    *,
    secret: str | None = None,
    via: str | None = None,
) -> Endpoint:
    """A new endpoint; ``secret`` (``whsec_...``) is generated when absent."""
    require(actor, "write")
    async with hub.database.transaction() as tx:
        endpoint = await service.create_endpoint(
            tx,
            hub.keyring,
            dict(fields),
            now=hub.clock.now(),
            https_only=hub.settings.https_only,
            secret=secret,
            policy=_policy(hub),
        )
        await hub.audit(
            tx,
            actor,
            "endpoint.created",
            target_type="endpoint",
            target_id=endpoint.id,
            details=with_via(via, {"name": endpoint.name, "url": endpoint.url}),
        )
    return endpoint


async def list_endpoints(
    hub: Hub,
    actor: Actor,
    *,
    limit: int | None = None,
    cursor: str | None = None,
    event_type: str | None = None,
) -> Listed[EndpointView]:
    require(actor, "read")
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    async with hub.database.read() as connection:
        found = await service.list_endpoints(
            connection,
            hub.keyring,
            limit=size + 1,
            after=str(after) if after is not None else None,
            event_type=event_type,
        )
        page = found[:size]
        health = await service.endpoint_health(
            connection, [e.id for e in page], now=hub.clock.now()
        )
    views = [EndpointView(e, health.get(e.id, EndpointHealth())) for e in found]
    return Listed.cut(views, size, lambda view: view.endpoint.id)


async def get_endpoint(hub: Hub, actor: Actor, ref: str, *, by_name: bool = False) -> EndpointView:
    require(actor, "read")
    async with hub.database.read() as connection:
        return await _view(hub, connection, await _find(hub, connection, ref, by_name=by_name))


async def update_endpoint(
    hub: Hub, actor: Actor, endpoint_id: str, changes: Mapping[str, Any], *, via: str | None = None
) -> EndpointView:
    """Change the fields given; ``disabled`` pauses or resumes. A new host for custom
    headers is audited apart (origins only, never a header value)."""
    require(actor, "write")
    fields = dict(changes)
    disabled = fields.pop("disabled", None)
    async with hub.database.transaction() as tx:
        before, after = await service.update_endpoint(
            tx,
            hub.keyring,
            endpoint_id,
            fields,
            now=hub.clock.now(),
            https_only=hub.settings.https_only,
            policy=_policy(hub),
            may_move_credentials=_may_move(actor),
        )
        if before.headers and origin(before.url) != origin(after.url):
            await hub.audit(
                tx,
                actor,
                "endpoint.target_changed",
                target_type="endpoint",
                target_id=endpoint_id,
                details=with_via(
                    via,
                    {
                        "from": [origin(before.url)],
                        "to": [origin(after.url)],
                        "given_again": "headers" in fields,
                    },
                ),
            )
        if fields:
            await hub.audit(
                tx,
                actor,
                "endpoint.updated",
                target_type="endpoint",
                target_id=endpoint_id,
                details=with_via(via, {"fields": sorted(fields)}),
            )
        if disabled is True:
            await _pause(hub, tx, actor, after, via)
    if disabled is False:
        await _resume(hub, actor, endpoint_id, via)
    return await get_endpoint(hub, actor, endpoint_id)


async def _pause(
    hub: Hub, tx: AsyncConnection, actor: Actor, endpoint: Endpoint, via: str | None
) -> bool:
    changed = await service.set_disabled(tx, endpoint.id, True, now=hub.clock.now())
    if changed:
        await hub.audit(
            tx,
            actor,
            "endpoint.paused",
            target_type="endpoint",
            target_id=endpoint.id,
            details=with_via(via),
        )
    return changed


async def _resume(hub: Hub, actor: Actor, endpoint_id: str, via: str | None) -> int:
    released = await hub.webhooks.resume(endpoint_id)
    async with hub.database.transaction() as tx:
        await hub.audit(
            tx,
            actor,
            "endpoint.resumed",
            target_type="endpoint",
            target_id=endpoint_id,
            details=with_via(via, {"released": released}),
        )
    return released


async def pause_endpoint(
    hub: Hub, actor: Actor, ref: str, *, by_name: bool = False, via: str | None = None
) -> Paused:
    """Hold new deliveries until the endpoint is resumed."""
    require(actor, "write")
    async with hub.database.transaction() as tx:
        endpoint = await _find(hub, tx, ref, by_name=by_name)
        return Paused(endpoint, await _pause(hub, tx, actor, endpoint, via))


async def resume_endpoint(
    hub: Hub, actor: Actor, ref: str, *, by_name: bool = False, via: str | None = None
) -> Resumed:
    """Enable the endpoint again and send what was held."""
    require(actor, "write")
    async with hub.database.read() as connection:
        endpoint = await _find(hub, connection, ref, by_name=by_name)
    return Resumed(endpoint, await _resume(hub, actor, endpoint.id, via))


async def delete_endpoint(
    hub: Hub, actor: Actor, ref: str, *, by_name: bool = False, via: str | None = None
) -> Deleted:
    """Delete an endpoint: its open deliveries are cancelled, its history stays."""
    require(actor, "write")
    async with hub.database.transaction() as tx:
        endpoint_id = (await _find(hub, tx, ref, by_name=by_name)).id
        cancelled = await service.delete_endpoint(tx, endpoint_id, now=hub.clock.now())
        await hub.audit(
            tx,
            actor,
            "endpoint.deleted",
            target_type="endpoint",
            target_id=endpoint_id,
            details=with_via(via, {"cancelled_deliveries": cancelled}),
        )
    return Deleted(endpoint_id, cancelled)


async def reveal_secret(
    hub: Hub, actor: Actor, ref: str, *, by_name: bool = False, via: str | None = None
) -> str:
    """The current signing secret (admin; audited)."""
    require(actor, "admin")
    async with hub.database.transaction() as tx:
        endpoint_id = (await _find(hub, tx, ref, by_name=by_name)).id
        key = await service.reveal_secret(tx, hub.keyring, endpoint_id)
        await hub.audit(
            tx,
            actor,
            "endpoint.secret_revealed",
            target_type="endpoint",
            target_id=endpoint_id,
            details=with_via(via),
        )
    return key


async def rotate_secret(
    hub: Hub,
    actor: Actor,
    ref: str,
    *,
    new_secret: str | None = None,
    by_name: bool = False,
    via: str | None = None,
) -> str:
    """A new signing secret (admin); the old one signs too during the grace period."""
    require(actor, "admin")
    grace = hub.settings.secret_rotation_grace_seconds
    async with hub.database.transaction() as tx:
        endpoint_id = (await _find(hub, tx, ref, by_name=by_name)).id
        key = await service.rotate_secret(
            tx,
            hub.keyring,
            endpoint_id,
            now=hub.clock.now(),
            grace_seconds=grace,
            new_secret=new_secret,
        )
        await hub.audit(
            tx,
            actor,
            "endpoint.secret_rotated",
            target_type="endpoint",
            target_id=endpoint_id,
            details=with_via(via, {"grace_seconds": grace}),
        )
    return key


async def send_test(
    hub: Hub, actor: Actor, ref: str, event_type: str, *, by_name: bool = False
) -> TestResult:
    """The event type's example, sent now; what the endpoint answered."""
    require(actor, "write")
    endpoint_id = ref
    if by_name:
        async with hub.database.read() as connection:
            endpoint_id = (await _find(hub, connection, ref, by_name=True)).id
    return await hub.webhooks.send_test(endpoint_id, event_type)


async def recover(
    hub: Hub,
    actor: Actor,
    ref: str,
    *,
    since: datetime,
    until: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    by_name: bool = False,
    via: str | None = None,
) -> int:
    """Send again every failed or exhausted delivery of the endpoint created in the range."""
    require(actor, "write")
    endpoint_id = ref
    if by_name:
        async with hub.database.read() as connection:
            endpoint_id = (await _find(hub, connection, ref, by_name=True)).id
    count = await hub.webhooks.recover(endpoint_id, since, until, progress=progress)
    async with hub.database.transaction() as tx:
        await hub.audit(
            tx,
            actor,
            "endpoint.recovered",
            target_type="endpoint",
            target_id=endpoint_id,
            details=with_via(via, {"since": since.isoformat(), "recovered": count}),
        )
    return count


async def list_attempts(
    hub: Hub,
    actor: Actor,
    endpoint_id: str,
    *,
    limit: int | None = None,
    cursor: str | None = None,
) -> Listed[dict[str, Any]]:
    """The endpoint's delivery attempts (test sends too), newest first."""
    require(actor, "read")
    size = clamp_limit(limit)
    before = decode_cursor(cursor)
    async with hub.database.read() as connection:
        await service.get_endpoint(connection, hub.keyring, endpoint_id)
        rows = await attempts_of(
            connection,
            endpoint_id=endpoint_id,
            limit=size + 1,
            before_id=int(before) if before else None,
        )
    return Listed.cut(rows, size, lambda row: row["id"])
