"""``marketo_hash`` for an email, from a Marketo connection's Munchkin API private key (the
``munchkin_private_key`` credential): what Munchkin's ``associateLead`` takes, for a page
or a flow that writes a lead from the browser (KARTE's "script" delivery)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from renkei.connectors.munchkin import PRIVATE_KEY, marketo_hash
from renkei.errors import Invalid
from renkei.usecases.access import Actor, require

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["connection_marketo_hash"]

_MAX_EMAIL = 320


async def connection_marketo_hash(hub: Hub, actor: Actor, ref: str, email: str) -> dict[str, str]:
    """``{"email", "marketo_hash"}``. The hash lets a browser write that person's lead, so
    asking for one takes the write scope, as using the key in a sync does."""
    require(actor, "write")
    email = email.strip()
    if not 0 < len(email) <= _MAX_EMAIL or "@" not in email:
        raise Invalid("email must be an email address", code="invalid_email")
    row = await hub.connectors.runtime.load(ref)
    if row.connector != "marketo":
        raise Invalid(
            f"connection {row.name!r} is a {row.connector} connection, not marketo",
            code="not_marketo",
        )
    key = row.decrypt(hub.keyring).get(PRIVATE_KEY)
    if not key:
        raise Invalid(
            f"connection {row.name!r} has no {PRIVATE_KEY} (set it as a credential)",
            code="munchkin_key_missing",
        )
    return {"email": email, "marketo_hash": marketo_hash(key, email)}
