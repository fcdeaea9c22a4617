"""Named secrets for flows (``{{ secrets.NAME }}``), admin only.

Values go in and never come out: what these return, and the audit entries they write,
carry the name, description and dates only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from renkei.errors import NotFound
from renkei.flows import secrets
from renkei.flows.secrets import Secret
from renkei.usecases.access import Actor, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor
from renkei.usecases.via import with_via

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["create_secret", "delete_secret", "get_secret", "list_secrets", "put_secret"]


async def create_secret(
    hub: Hub, actor: Actor, *, name: str, value: str, description: str = ""
) -> Secret:
    """A new secret; a name taken is a Conflict (``put_secret`` replaces instead)."""
    require(actor, "admin")
    async with hub.database.transaction() as tx:
        secret = await secrets.create_secret(
            tx, hub.keyring, name=name, value=value, description=description, now=hub.clock.now()
        )
        await hub.audit(
            tx,
            actor,
            "secret.created",
            target_type="secret",
            target_id=secret.id,
            details={"name": secret.name},
        )
    return secret


async def put_secret(
    hub: Hub,
    actor: Actor,
    *,
    name: str,
    value: str | None,
    description: str | None = None,
    via: str | None = None,
) -> tuple[Secret, bool]:
    """Create, or set a new value (a rotation) and/or description; ``value=None`` keeps the
    stored one. Returns the secret and whether it was created."""
    require(actor, "admin")
    async with hub.database.transaction() as tx:
        secret, created = await secrets.put_secret(
            tx, hub.keyring, name=name, value=value, description=description, now=hub.clock.now()
        )
        await hub.audit(
            tx,
            actor,
            "secret.created" if created else "secret.updated",
            target_type="secret",
            target_id=secret.id,
            details=with_via(via, {"name": secret.name, "value_changed": value is not None}),
        )
    return secret, created


async def list_secrets(
    hub: Hub, actor: Actor, *, limit: int | None = None, cursor: str | None = None
) -> Listed[Secret]:
    """By name."""
    require(actor, "admin")
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    async with hub.database.read() as connection:
        found = await secrets.list_secrets(
            connection, limit=size + 1, after=after if isinstance(after, str) else None
        )
    return Listed.cut(found, size, lambda secret: secret.name)


async def get_secret(hub: Hub, actor: Actor, name: str) -> Secret:
    require(actor, "admin")
    async with hub.database.read() as connection:
        secret = await secrets.find_secret(connection, name)
    if secret is None:
        raise NotFound("secret", name)
    return secret


async def delete_secret(hub: Hub, actor: Actor, name: str, *, via: str | None = None) -> Secret:
    """Flows that use it fail their HTTP action until it is set again."""
    require(actor, "admin")
    async with hub.database.transaction() as tx:
        secret = await secrets.find_secret(tx, name)
        if secret is None or not await secrets.delete_secret(tx, name):
            raise NotFound("secret", name)
        await hub.audit(
            tx,
            actor,
            "secret.deleted",
            target_type="secret",
            target_id=secret.id,
            details=with_via(via, {"name": name}),
        )
    return secret
