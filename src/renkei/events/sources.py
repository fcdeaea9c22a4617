"""Sources: where events come from. The API, the CLI and ``renkei apply`` call these.

- ``tracking``: a Segment-compatible write key. Stored twice: a SHA-256 hash to look the
  source up on every request, and encrypted (``sources.write_key_encrypted``) so an admin can
  see it again.
- ``webhook``: receives at ``/hooks/{id}``; holds a verification config (its secret fields
  encrypted in ``sources.verification_secret_encrypted``, the rest readable) and a mapping.

Secrets never leave through :meth:`Source.to_dict`; only :func:`reveal_secret` returns them.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.errors import Conflict, Invalid, NotFound, RenkeiError
from renkei.events.errors import ConfigError
from renkei.events.plan import InvalidPlan, check_plan_mode
from renkei.events.verification import MESSAGE_IDS, SCHEMES, Verifier, build_verifier
from renkei.events.webhook_mapping import WebhookMapping, build_mapping
from renkei.ids import new_id
from renkei.security.keyring import Keyring
from renkei.store.tables.ingest import SOURCE_KINDS, sources, webhook_requests

__all__ = [
    "DEFAULT_MAPPING",
    "PLAN_OFF",
    "SECRET_FIELDS",
    "CreatedSource",
    "HookSource",
    "Source",
    "SourceChanges",
    "SourceConflict",
    "SourceError",
    "SourceNotFound",
    "create_source",
    "delete_source",
    "get_source",
    "get_source_by_name",
    "hash_write_key",
    "list_sources",
    "load_hook_source",
    "lookup_write_key",
    "reveal_secret",
    "rotate_secret",
    "update_source",
]

WRITE_KEY_CONTEXT = "sources.write_key_encrypted"
SECRET_CONTEXT = "sources.verification_secret_encrypted"
SECRET_FIELDS = ("secret", "password", "client_secret")
DEFAULT_VERIFICATION: dict[str, Any] = {"scheme": "none"}
DEFAULT_MAPPING: dict[str, Any] = {"type": {"value": "webhook"}}
# Schemes whose secret Renkei may choose (the vendor is told it); the others are issued by
# the vendor (Stripe, Shopify, HubSpot, Klaviyo) and must be given.
_GENERATED = {
    "shared_secret": "secret",
    "basic_auth": "password",
    "hmac": "secret",
    "standard_webhooks": "secret",
}
# Request parts that carry a scheme's secret or signature, redacted from stored requests.
_SECRET_HEADERS = {
    "hubspot_v3": ("x-hubspot-signature-v3", "x-hubspot-signature"),
    "stripe": ("stripe-signature",),
    "shopify": ("x-shopify-hmac-sha256",),
    "klaviyo": ("klaviyo-signature",),
    "standard_webhooks": ("webhook-signature", "svix-signature"),
    "basic_auth": ("authorization",),
    "twilio": ("x-twilio-signature",),
    "sendgrid": ("x-twilio-email-event-webhook-signature",),
}


class SourceError(RenkeiError):
    """What the sources service refuses: the sources branch of :mod:`renkei.errors`."""


class SourceNotFound(SourceError, NotFound):
    def __init__(self, source_id: str) -> None:
        NotFound.__init__(self, "source", source_id)


class SourceConflict(SourceError, Conflict):
    pass


class InvalidSource(SourceError, Invalid):
    default_code = "invalid_source"


@dataclass(slots=True)
class Source:
    id: str
    name: str
    kind: str
    description: str
    enabled: bool
    write_key_hint: str | None
    verification: dict[str, Any] | None
    """The verification config without its secret fields."""
    has_secret: bool
    mapping: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    plan_mode: str | None = None
    """Tracking plan: ``allow | omit_properties | block``, or None (no check)."""

    def to_dict(self, base_url: str) -> dict[str, Any]:
        """What the API shows: never a secret."""
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "enabled": self.enabled,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if self.kind == "tracking":
            body["write_key_hint"] = self.write_key_hint
            body["plan_mode"] = self.plan_mode
        else:
            body["url"] = hook_url(base_url, self.id)
            body["verification"] = {**(self.verification or {}), "has_secret": self.has_secret}
            body["mapping"] = self.mapping
        return body

    def spec(self) -> dict[str, Any]:
        """As written in a configuration file (``renkei export``), without secrets."""
        spec: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "enabled": self.enabled,
        }
        if self.kind == "webhook":
            spec["verification"] = self.verification or DEFAULT_VERIFICATION
            spec["mapping"] = self.mapping or DEFAULT_MAPPING
        elif self.plan_mode is not None:
            spec["plan_mode"] = self.plan_mode
        return spec


@dataclass(slots=True)
class CreatedSource:
    source: Source
    write_key: str | None = None
    generated_secrets: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SourceChanges:
    name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    verification: dict[str, Any] | None = None
    mapping: dict[str, Any] | None = None
    plan_mode: str | None = None
    """A plan mode, or ``PLAN_OFF`` to stop checking; None leaves it as it is."""


PLAN_OFF = "off"


@dataclass(frozen=True, slots=True)
class HookSource:
    """What ``/hooks/{id}`` needs per request, built once and cached."""

    id: str
    enabled: bool
    scheme: str
    verifier: Verifier
    mapping: WebhookMapping
    redact_headers: frozenset[str]
    """Lower-cased header names whose values are never stored."""
    redact_query: frozenset[str]
    secrets: frozenset[str]


def hook_url(base_url: str, source_id: str) -> str:
    return f"{base_url.rstrip('/')}/hooks/{source_id}"


def hash_write_key(write_key: str) -> str:
    return hashlib.sha256(write_key.encode()).hexdigest()


def _new_write_key() -> str:
    return f"wk_{secrets.token_urlsafe(24)}"


def _new_secret(scheme: str) -> str:
    if scheme == "standard_webhooks":
        return "whsec_" + base64.b64encode(os.urandom(32)).decode()
    return secrets.token_urlsafe(32)


def _split(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    public = {key: value for key, value in config.items() if key not in SECRET_FIELDS}
    hidden = {key: value for key, value in config.items() if key in SECRET_FIELDS}
    return public, hidden


def _prepare_verification(
    config: Mapping[str, Any], previous: tuple[dict[str, Any], dict[str, str]] | None
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Validate a verification config; returns (public, secrets, generated secrets).

    A secret left out keeps the previous one when the scheme is unchanged, and is
    generated for schemes whose secret Renkei may choose.
    """
    if not isinstance(config, Mapping):
        raise InvalidSource("verification must be an object")
    public, hidden = _split(config)
    generated: dict[str, str] = {}
    scheme = public.get("scheme")
    secret_field = _GENERATED.get(scheme) if isinstance(scheme, str) else None
    if previous is not None and previous[0].get("scheme") == scheme:
        hidden = {**previous[1], **hidden}
    if secret_field is not None and secret_field not in hidden:
        hidden[secret_field] = generated[secret_field] = _new_secret(str(scheme))
    try:
        build_verifier({**public, **hidden})
    except ConfigError as exc:
        raise InvalidSource(exc.message, details=exc.details) from exc
    if not all(isinstance(value, str) for value in hidden.values()):
        raise InvalidSource("secrets must be strings")
    return public, hidden, generated


def _prepare_mapping(config: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise InvalidSource("mapping must be an object")
    try:
        build_mapping(config)
    except ConfigError as exc:
        raise InvalidSource(exc.message, details=exc.details) from exc
    return dict(config)


def _source(row: Any) -> Source:
    return Source(
        id=row.id,
        name=row.name,
        kind=row.kind,
        description=row.description,
        enabled=bool(row.enabled),
        write_key_hint=row.write_key_hint,
        verification=row.verification,
        has_secret=row.verification_secret_encrypted is not None,
        mapping=row.mapping,
        created_at=row.created_at,
        updated_at=row.updated_at,
        plan_mode=row.plan_mode,
    )


def _seal_secrets(keyring: Keyring, hidden: Mapping[str, str]) -> str | None:
    if not hidden:
        return None
    return keyring.encrypt(orjson.dumps(dict(hidden)).decode(), context=SECRET_CONTEXT)


def _open_secrets(keyring: Keyring, sealed: str | None) -> dict[str, str]:
    if sealed is None:
        return {}
    opened: dict[str, str] = orjson.loads(keyring.decrypt(sealed, context=SECRET_CONTEXT))
    return opened


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidSource("name must have 1 to 200 characters", details={"field": "name"})
    return name


async def _name_taken(connection: AsyncConnection, name: str, but: str | None = None) -> bool:
    query = select(sources.c.id).where(sources.c.name == name)
    if but is not None:
        query = query.where(sources.c.id != but)
    return (await connection.execute(query)).first() is not None


async def create_source(
    connection: AsyncConnection,
    keyring: Keyring,
    *,
    kind: str,
    name: str,
    now: datetime,
    description: str = "",
    enabled: bool = True,
    verification: Mapping[str, Any] | None = None,
    mapping: Mapping[str, Any] | None = None,
    plan_mode: str | None = None,
) -> CreatedSource:
    if kind not in SOURCE_KINDS:
        raise InvalidSource(
            f"kind must be one of {', '.join(SOURCE_KINDS)}", details={"field": "kind"}
        )
    name = _check_name(name)
    if await _name_taken(connection, name):
        raise SourceConflict(f"a source named {name!r} exists")
    source_id = new_id("src")
    row: dict[str, Any] = {
        "id": source_id,
        "name": name,
        "kind": kind,
        "description": description,
        "enabled": enabled,
        "created_at": now,
        "updated_at": now,
    }
    write_key: str | None = None
    generated: dict[str, str] = {}
    if kind == "tracking":
        if verification is not None or mapping is not None:
            raise InvalidSource("a tracking source has a write key, not verification or mapping")
        write_key = _new_write_key()
        row |= _write_key_columns(keyring, write_key)
        row["plan_mode"] = _plan_mode(plan_mode)
    else:
        if plan_mode is not None:
            raise _plan_on_webhook()
        public, hidden, generated = _prepare_verification(
            verification if verification is not None else DEFAULT_VERIFICATION, None
        )
        row["verification"] = public
        row["verification_secret_encrypted"] = _seal_secrets(keyring, hidden)
        row["mapping"] = _prepare_mapping(mapping if mapping is not None else DEFAULT_MAPPING)
    try:
        await connection.execute(insert(sources).values(**row))
    except IntegrityError as exc:
        raise SourceConflict(f"a source named {name!r} exists") from exc
    return CreatedSource(await get_source(connection, source_id), write_key, generated)


def _write_key_columns(keyring: Keyring, write_key: str) -> dict[str, Any]:
    return {
        "write_key_hash": hash_write_key(write_key),
        "write_key_hint": write_key[:7],
        "write_key_encrypted": keyring.encrypt(write_key, context=WRITE_KEY_CONTEXT),
    }


def _plan_mode(mode: str | None) -> str | None:
    try:
        return check_plan_mode(mode)
    except InvalidPlan as exc:
        raise InvalidSource(exc.message, details={"field": "plan_mode"}) from exc


def _plan_on_webhook() -> InvalidSource:
    return InvalidSource(
        "plan_mode applies to tracking sources only", details={"field": "plan_mode"}
    )


async def get_source(connection: AsyncConnection, source_id: str) -> Source:
    row = (await connection.execute(select(sources).where(sources.c.id == source_id))).first()
    if row is None:
        raise SourceNotFound(source_id)
    return _source(row)


async def get_source_by_name(connection: AsyncConnection, name: str) -> Source | None:
    row = (await connection.execute(select(sources).where(sources.c.name == name))).first()
    return None if row is None else _source(row)


async def list_sources(
    connection: AsyncConnection,
    *,
    kind: str | None = None,
    limit: int | None = None,
    after: str | None = None,
) -> list[Source]:
    """Sources oldest first (ids sort by creation); ``after`` is the last id of a page."""
    query = select(sources).order_by(sources.c.id)
    if kind is not None:
        query = query.where(sources.c.kind == kind)
    if after is not None:
        query = query.where(sources.c.id > after)
    if limit is not None:
        query = query.limit(limit)
    return [_source(row) for row in await connection.execute(query)]


async def update_source(
    connection: AsyncConnection,
    keyring: Keyring,
    source_id: str,
    changes: SourceChanges,
    *,
    now: datetime,
) -> Source:
    row = (await connection.execute(select(sources).where(sources.c.id == source_id))).first()
    if row is None:
        raise SourceNotFound(source_id)
    values: dict[str, Any] = {}
    if changes.name is not None:
        name = _check_name(changes.name)
        if await _name_taken(connection, name, but=source_id):
            raise SourceConflict(f"a source named {name!r} exists")
        values["name"] = name
    if changes.description is not None:
        values["description"] = changes.description
    if changes.enabled is not None:
        values["enabled"] = changes.enabled
    if row.kind == "tracking" and (changes.verification is not None or changes.mapping):
        raise InvalidSource("a tracking source has a write key, not verification or mapping")
    if changes.verification is not None:
        previous = (
            row.verification or {},
            _open_secrets(keyring, row.verification_secret_encrypted),
        )
        public, hidden, _ = _prepare_verification(changes.verification, previous)
        values["verification"] = public
        values["verification_secret_encrypted"] = _seal_secrets(keyring, hidden)
    if changes.mapping is not None:
        values["mapping"] = _prepare_mapping(changes.mapping)
    if changes.plan_mode is not None:
        if row.kind != "tracking":
            raise _plan_on_webhook()
        mode = changes.plan_mode
        values["plan_mode"] = None if mode == PLAN_OFF else _plan_mode(mode)
    if values:
        values["updated_at"] = now
        try:
            await connection.execute(
                update(sources).where(sources.c.id == source_id).values(**values)
            )
        except IntegrityError as exc:
            raise SourceConflict("a source with that name exists") from exc
    return await get_source(connection, source_id)


async def delete_source(connection: AsyncConnection, source_id: str) -> None:
    """Delete a source and its stored raw requests; its events stay in the log."""
    await connection.execute(
        delete(webhook_requests).where(webhook_requests.c.source_id == source_id)
    )
    result = await connection.execute(delete(sources).where(sources.c.id == source_id))
    if not result.rowcount:
        raise SourceNotFound(source_id)


async def reveal_secret(
    connection: AsyncConnection, keyring: Keyring, source_id: str
) -> dict[str, str]:
    """``{"write_key": ...}`` of a tracking source, the secret fields of a webhook source."""
    row = (await connection.execute(select(sources).where(sources.c.id == source_id))).first()
    if row is None:
        raise SourceNotFound(source_id)
    if row.kind == "tracking":
        return {"write_key": keyring.decrypt(row.write_key_encrypted, context=WRITE_KEY_CONTEXT)}
    return _open_secrets(keyring, row.verification_secret_encrypted)


async def rotate_secret(
    connection: AsyncConnection,
    keyring: Keyring,
    source_id: str,
    *,
    now: datetime,
    secret: str | None = None,
) -> dict[str, str]:
    """A new write key (the old one stops working), or a new verification secret.

    A webhook source's new secret is ``secret`` when given, else generated for schemes
    whose secret Renkei chooses. Returns what :func:`reveal_secret` would now return.
    """
    row = (await connection.execute(select(sources).where(sources.c.id == source_id))).first()
    if row is None:
        raise SourceNotFound(source_id)
    if row.kind == "tracking":
        if secret is not None:
            raise InvalidSource("a write key is always generated")
        write_key = _new_write_key()
        await connection.execute(
            update(sources)
            .where(sources.c.id == source_id)
            .values(updated_at=now, **_write_key_columns(keyring, write_key))
        )
        return {"write_key": write_key}
    public = dict(row.verification or DEFAULT_VERIFICATION)
    scheme = str(public.get("scheme"))
    model = SCHEMES.get(scheme)
    fields = [name for name in SECRET_FIELDS if model is not None and name in model.model_fields]
    if not fields:
        raise InvalidSource(f"verification scheme {scheme} has no secret")
    hidden = _open_secrets(keyring, row.verification_secret_encrypted)
    if secret is not None:
        hidden[fields[0]] = secret
    elif scheme in _GENERATED:
        hidden[_GENERATED[scheme]] = _new_secret(scheme)
    else:
        raise InvalidSource(f"the {scheme} secret is issued by the vendor: give it as secret")
    public, hidden, _ = _prepare_verification({**public, **hidden}, None)
    await connection.execute(
        update(sources)
        .where(sources.c.id == source_id)
        .values(updated_at=now, verification_secret_encrypted=_seal_secrets(keyring, hidden))
    )
    return hidden


async def lookup_write_key(
    connection: AsyncConnection, write_key: str
) -> tuple[str, bool, str | None] | None:
    """``(source id, enabled, plan mode)`` of the tracking source with this write key."""
    row = (
        await connection.execute(
            select(sources.c.id, sources.c.enabled, sources.c.plan_mode).where(
                sources.c.write_key_hash == hash_write_key(write_key),
                sources.c.kind == "tracking",
            )
        )
    ).first()
    return None if row is None else (row.id, bool(row.enabled), row.plan_mode)


async def load_hook_source(
    connection: AsyncConnection, keyring: Keyring, source_id: str
) -> HookSource | None:
    row = (
        await connection.execute(
            select(sources).where(sources.c.id == source_id, sources.c.kind == "webhook")
        )
    ).first()
    if row is None:
        return None
    public = dict(row.verification or DEFAULT_VERIFICATION)
    hidden = _open_secrets(keyring, row.verification_secret_encrypted)
    scheme = str(public.get("scheme"))
    headers = set(_SECRET_HEADERS.get(scheme, ()))
    query: set[str] = set()
    if scheme in ("shared_secret", "hmac") and isinstance(public.get("header"), str):
        headers.add(public["header"].lower())
    if scheme == "shared_secret" and isinstance(public.get("query"), str):
        query.add(public["query"])
    return HookSource(
        id=row.id,
        enabled=bool(row.enabled),
        scheme=scheme,
        verifier=build_verifier({**public, **hidden}),
        mapping=build_mapping(row.mapping or DEFAULT_MAPPING).with_message_ids(
            MESSAGE_IDS.get(scheme, ())
        ),
        redact_headers=frozenset(headers),
        redact_query=frozenset(query),
        secrets=frozenset(value for value in hidden.values() if value),
    )
