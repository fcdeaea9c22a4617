"""Named secrets: credentials a flow's HTTP action uses without holding them.

A flow writes ``{{ secrets.mailchimp_key }}`` in the URL, headers, query or body of an
ad-hoc HTTP action; the flow's spec keeps only that reference. The value is stored
encrypted (``secrets.value``, keyring context ``secrets.value``) and is decrypted only when
the request is sent: runs, previews, logs, errors, audit entries and API listings never
show it (recorded requests have it replaced by ``[redacted]``).

Secrets are created by ``POST /api/v1/secrets`` (admin) or by the ``secrets:`` section of a
configuration file (``value: "${env:MAILCHIMP_API_KEY}"``, resolved at apply time).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.config.loader import ConfigError, refuse_unknown_fields
from renkei.errors import Conflict, Invalid
from renkei.ids import new_id
from renkei.security.keyring import Keyring
from renkei.store.tables.flows import secrets

if TYPE_CHECKING:
    from renkei.core import Core

__all__ = [
    "NAME",
    "Secret",
    "SecretExists",
    "SecretInvalid",
    "SecretsResource",
    "create_secret",
    "delete_secret",
    "find_secret",
    "list_secrets",
    "put_secret",
    "reveal",
]

NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_VALUE: Final = 16 * 1024
CONTEXT: Final = "secrets.value"


class SecretInvalid(Invalid, ValueError):
    default_code = "invalid_secret"


class SecretExists(Conflict):
    pass


@dataclass(frozen=True)
class Secret:
    """A secret as it is shown: never its value."""

    id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _secret(row: Any) -> Secret:
    return Secret(row.id, row.name, row.description, row.created_at, row.updated_at)


def check(name: object, value: object | None) -> None:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise SecretInvalid(
            "a secret's name is lower-case letters, digits and _, starting with a letter (max 64)"
        )
    if value is not None and (not isinstance(value, str) or not value or len(value) > MAX_VALUE):
        raise SecretInvalid(f"a secret's value is a non-empty string of at most {MAX_VALUE} bytes")


async def find_secret(connection: AsyncConnection, name: str) -> Secret | None:
    row = (await connection.execute(select(secrets).where(secrets.c.name == name))).first()
    return None if row is None else _secret(row)


async def list_secrets(
    connection: AsyncConnection, *, limit: int = 100, after: str | None = None
) -> list[Secret]:
    statement = select(secrets).order_by(secrets.c.name).limit(limit)
    if after is not None:
        statement = statement.where(secrets.c.name > after)
    return [_secret(row) for row in await connection.execute(statement)]


async def create_secret(
    tx: AsyncConnection,
    keyring: Keyring,
    *,
    name: str,
    value: str,
    description: str = "",
    now: datetime,
) -> Secret:
    check(name, value)
    if await find_secret(tx, name) is not None:
        raise SecretExists(f"a secret named {name!r} exists")
    secret_id = new_id("sec")
    row = {
        "id": secret_id,
        "name": name,
        "value": keyring.encrypt(value, context=CONTEXT),
        "description": description,
        "created_at": now,
        "updated_at": now,
    }
    await tx.execute(secrets.insert().values(**row))
    return Secret(secret_id, name, description, now, now)


async def put_secret(
    tx: AsyncConnection,
    keyring: Keyring,
    *,
    name: str,
    value: str | None,
    description: str | None = None,
    now: datetime,
) -> tuple[Secret, bool]:
    """Create or replace (a rotation); ``value=None`` keeps the stored value. Returns
    the secret and whether it was created."""
    check(name, value)
    current = await find_secret(tx, name)
    if current is None:
        if value is None:
            raise SecretInvalid(f"secret {name!r} does not exist yet: give its value")
        return (
            await create_secret(
                tx, keyring, name=name, value=value, description=description or "", now=now
            ),
            True,
        )
    values: dict[str, Any] = {"updated_at": now}
    if value is not None:
        values["value"] = keyring.encrypt(value, context=CONTEXT)
    if description is not None:
        values["description"] = description
    await tx.execute(update(secrets).where(secrets.c.id == current.id).values(**values))
    return (
        Secret(
            current.id,
            name,
            current.description if description is None else description,
            current.created_at,
            now,
        ),
        False,
    )


async def delete_secret(tx: AsyncConnection, name: str) -> bool:
    deleted = await tx.execute(delete(secrets).where(secrets.c.name == name))
    return bool(deleted.rowcount)


async def reveal(
    connection: AsyncConnection, keyring: Keyring, names: Iterable[str]
) -> dict[str, str]:
    """The plaintext of these secrets (for sending only); missing names are left out."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = await connection.execute(
        select(secrets.c.name, secrets.c.value).where(secrets.c.name.in_(wanted))
    )
    return {row.name: keyring.decrypt(row.value, context=CONTEXT) for row in rows}


class SecretsResource:
    """The ``secrets:`` section: ``{name, value, description}``.

    Export never writes a value. To notice a changed value without showing it, export and
    the plan compare ``value_digest``, an HMAC under a key drawn at random for each process
    (meaningless outside it); a file without ``value`` keeps the stored one."""

    section = "secrets"
    _FIELDS = frozenset({"name", "value", "description", "value_digest"})

    def __init__(self) -> None:
        self._salt = os.urandom(32)

    def _digest(self, value: str) -> str:
        return hmac.new(self._salt, value.encode(), hashlib.sha256).hexdigest()

    async def export(self, hub: Core) -> dict[str, dict[str, Any]]:
        async with hub.database.read() as connection:
            rows = list(await connection.execute(select(secrets).order_by(secrets.c.name)))
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            document: dict[str, Any] = {"name": row.name}
            if row.description:
                document["description"] = row.description
            plaintext = hub.keyring.decrypt(row.value, context=CONTEXT)
            document["value_digest"] = self._digest(plaintext)
            found[row.name] = document
        return found

    def comparable(self, spec: dict[str, Any]) -> dict[str, Any]:
        document: dict[str, Any] = {"name": spec["name"]}
        if spec.get("description"):
            document["description"] = spec["description"]
        if isinstance(spec.get("value"), str):
            document["value_digest"] = self._digest(spec["value"])
        return document

    async def validate(
        self,
        hub: Core,
        spec: dict[str, Any],
        current: dict[str, Any] | None,
        config: dict[str, list[dict[str, Any]]],
    ) -> None:
        refuse_unknown_fields("secrets", spec, self._FIELDS)
        if current is None and "value" not in spec:
            raise ConfigError(f"secrets.{spec['name']}: a new secret needs a value")
        try:
            check(spec["name"], spec.get("value"))
        except SecretInvalid as exc:
            raise ConfigError(f"secrets.{spec['name']}: {exc}") from None
        description = spec.get("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"secrets.{spec['name']}: description must be a string")

    async def apply(self, hub: Core, spec: dict[str, Any], current: dict[str, Any] | None) -> str:
        await self.validate(hub, spec, current, {})
        async with hub.database.transaction() as tx:
            secret, created = await put_secret(
                tx,
                hub.keyring,
                name=spec["name"],
                value=spec.get("value"),
                description=str(spec.get("description", "")),
                now=hub.clock.now(),
            )
            await hub.audit(
                tx,
                None,
                "secret.created" if created else "secret.updated",
                target_type="secret",
                target_id=secret.id,
                details={"name": secret.name, "via": "config"},
            )
        return secret.id
