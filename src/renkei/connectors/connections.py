"""Connections: configured connectors with encrypted credentials and their limits.

Credentials are stored as one keyring ciphertext of a JSON object in
``connections.credentials`` (context ``"connections.credentials"``); only their field names
are kept in the clear, so listings can say which are set without decrypting anything.

``limits`` overrides the connector's documented limits for one connection, for an account
on a bigger plan or a quota shared with other integrations::

    {"rate_limit": {"calls": 100, "per_seconds": 20, "concurrency": 10},
     "daily_quota": {"calls": 10000, "reset": "00:00", "timezone": "America/Chicago"},
     "pools": {"search": {"calls": 5, "per_seconds": 1}},
     "batch_size": 100}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from sqlalchemy import Row, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.connectors.errors import ConfigurationError
from renkei.connectors.spec import ConnectorSpec, Operation, QuotaSpec, RateLimitSpec
from renkei.egress.errors import TargetRefused
from renkei.egress.ssrf import refusal_hint, refuse_private_literal
from renkei.errors import Conflict, NotFound
from renkei.ids import new_id
from renkei.security.targets import CredentialMove, origin
from renkei.store.tables.connectors import connections

if TYPE_CHECKING:
    from renkei.connectors.registry import ConnectorRegistry
    from renkei.egress.ssrf import TargetPolicy
    from renkei.security.keyring import Keyring

__all__ = [
    "CREDENTIALS_CONTEXT",
    "ConnectionExists",
    "ConnectionNotFound",
    "ConnectionRow",
    "EffectiveLimits",
    "check_targets",
    "create_connection",
    "credential_destinations",
    "delete_connection",
    "effective_limits",
    "find_connection",
    "list_connections",
    "moved_credentials",
    "update_connection",
]

CREDENTIALS_CONTEXT = "connections.credentials"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
_LIMIT_KEYS = frozenset({"rate_limit", "daily_quota", "pools", "batch_size"})
# Config keys that say where calls go (base_url, identity_url, instance_url, token_url ...).
_DESTINATION_KEY = re.compile(r"(url|uri|host|domain|endpoint|instance|server)", re.IGNORECASE)
_URL_KEY = re.compile(r"_url$", re.IGNORECASE)  # a key that names a URL, not a host or path


class ConnectionNotFound(NotFound, LookupError):
    def __init__(self, ref: str) -> None:
        super().__init__("connection", ref)
        self.ref = ref


class ConnectionExists(Conflict, ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a connection called {name!r} already exists")
        self.name = name


@dataclass(frozen=True)
class ConnectionRow:
    """A stored connection. ``credentials`` is ciphertext; :meth:`public` leaves it out."""

    id: str
    name: str
    connector: str
    config: dict[str, Any]
    credentials: str = field(repr=False)
    credential_fields: list[str]
    limits: dict[str, Any]
    status: str
    last_error: str | None
    last_tested_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> ConnectionRow:
        return cls(**row._mapping)

    def decrypt(self, keyring: Keyring) -> dict[str, str]:
        plain = keyring.decrypt(self.credentials, context=CREDENTIALS_CONTEXT)
        values = orjson.loads(plain)
        return {str(k): str(v) for k, v in values.items()}

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "connector": self.connector,
            "config": self.config,
            "credentials_set": sorted(self.credential_fields),
            "limits": self.limits,
            "status": self.status,
            "last_error": self.last_error,
            "last_tested_at": self.last_tested_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


# --- limits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectiveLimits:
    """The connector's documented limits with the connection's overrides applied."""

    rate_limit: RateLimitSpec | None
    pools: dict[str, RateLimitSpec]
    daily_quota: QuotaSpec | None
    batch_size: int | None

    def batch_size_for(self, operation: Operation) -> int:
        if not operation.batchable or operation.max_batch_size is None:
            return 1
        if self.batch_size is None:
            return operation.max_batch_size
        return min(self.batch_size, operation.max_batch_size)

    def as_dict(self) -> dict[str, Any]:
        quota = self.daily_quota
        return {
            "rate_limit": _rate_dict(self.rate_limit),
            "pools": {name: _rate_dict(limit) for name, limit in self.pools.items()},
            "daily_quota": (
                {
                    "calls": quota.calls,
                    "reset": quota.reset.strftime("%H:%M"),
                    "timezone": quota.timezone,
                }
                if quota
                else None
            ),
            "batch_size": self.batch_size,
        }


def _rate_dict(limit: RateLimitSpec | None) -> dict[str, Any] | None:
    if limit is None:
        return None
    return {
        "calls": limit.calls,
        "per_seconds": limit.per_seconds,
        "concurrency": limit.concurrency,
    }


def _invalid(message: str) -> ConfigurationError:
    return ConfigurationError(f"limits: {message}", code="invalid_limits")


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid(f"{where} must be a whole number of at least 1")
    return value


def _rate(base: RateLimitSpec | None, raw: Any, where: str) -> RateLimitSpec | None:
    if raw is None:
        return base
    if not isinstance(raw, Mapping) or set(raw) - {"calls", "per_seconds", "concurrency"}:
        raise _invalid(f"{where} takes calls, per_seconds and concurrency")
    calls = base.calls if base else None
    per_seconds = base.per_seconds if base else 1.0
    concurrency = base.concurrency if base else None
    if "calls" in raw:
        calls = None if raw["calls"] is None else _positive_int(raw["calls"], f"{where}.calls")
    if "per_seconds" in raw:
        value = raw["per_seconds"]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise _invalid(f"{where}.per_seconds must be a number above 0")
        per_seconds = float(value)
    if "concurrency" in raw:
        concurrency = (
            None
            if raw["concurrency"] is None
            else _positive_int(raw["concurrency"], f"{where}.concurrency")
        )
    if calls is None and concurrency is None:
        return None
    return RateLimitSpec(calls, per_seconds, concurrency)


def _quota(base: QuotaSpec | None, raw: Any) -> QuotaSpec | None:
    if raw is None:
        return base
    if not isinstance(raw, Mapping) or set(raw) - {"calls", "reset", "timezone"}:
        raise _invalid("daily_quota takes calls, reset (HH:MM) and timezone")
    calls = _positive_int(raw.get("calls", base.calls if base else None), "daily_quota.calls")
    reset = base.reset if base else time(0, 0)
    if "reset" in raw:
        try:
            reset = time.fromisoformat(str(raw["reset"]))
        except ValueError:
            raise _invalid("daily_quota.reset must be a time of day like 00:00") from None
        if reset.tzinfo is not None:
            raise _invalid("daily_quota.reset is a wall-clock time; the zone goes in timezone")
    zone = str(raw.get("timezone", base.timezone if base else "UTC"))
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid(f"daily_quota.timezone {zone!r} is not a known time zone") from None
    return QuotaSpec(calls, reset, zone)


def effective_limits(spec: ConnectorSpec, raw: Mapping[str, Any] | None) -> EffectiveLimits:
    """The limits a connection runs under; ConfigurationError names what is wrong."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - _LIMIT_KEYS)
    if unknown:
        raise _invalid(f"unknown keys {unknown}; use {sorted(_LIMIT_KEYS)}")
    raw_pools = raw.get("pools") or {}
    if not isinstance(raw_pools, Mapping):
        raise _invalid("pools must be an object of pool name to rate limit")
    strange = sorted(set(raw_pools) - set(spec.rate_limit_pools))
    if strange:
        raise _invalid(f"{spec.name} has no rate-limit pools {strange}")
    pools: dict[str, RateLimitSpec] = {}
    for name, base in spec.rate_limit_pools.items():
        limit = _rate(base, raw_pools.get(name), f"pools.{name}")
        if limit is not None:
            pools[name] = limit
    batch = raw.get("batch_size")
    return EffectiveLimits(
        rate_limit=_rate(spec.rate_limit, raw.get("rate_limit"), "rate_limit"),
        pools=pools,
        daily_quota=_quota(spec.daily_quota, raw.get("daily_quota")),
        batch_size=None if batch is None else _positive_int(batch, "batch_size"),
    )


# --- where credentials go ----------------------------------------------------------------


def credential_destinations(config: Mapping[str, Any]) -> dict[str, str]:
    """Where a connection's calls (and so its credentials) go: the origin of every config
    value that is a URL or sits under a key like ``base_url`` or ``host``, by its path
    (``auth.token_url``). A template is its own origin."""
    return {path: origin(value) for path, value in _destination_values(config).items()}


def _destination_values(config: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}

    def walk(value: Any, path: str, key: str) -> None:
        if isinstance(value, Mapping):
            for name, item in value.items():
                walk(item, f"{path}.{name}" if path else str(name), str(name))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]", key)
        elif isinstance(value, str) and ("://" in value or _DESTINATION_KEY.search(key)):
            found[path] = value

    walk(config, "", "")
    return found


def moved_credentials(
    current: ConnectionRow,
    new_config: Mapping[str, Any],
    credentials: Mapping[str, Any | None] | None,
) -> CredentialMove | None:
    """The move of ``current``'s stored credentials to a new host that a change of its
    config to ``new_config`` makes, or None: none when the change gives every credential
    the connection will hold again (nothing stored goes anywhere new)."""
    before = credential_destinations(current.config)
    after = credential_destinations(new_config)
    if all(before.get(path) == where for path, where in after.items()):
        return None
    kept = set(current.credential_fields)
    given = {key for key, value in (credentials or {}).items() if value is not None}
    removed = {key for key, value in (credentials or {}).items() if value is None}
    if not (kept - removed) - given:
        return None
    return CredentialMove(
        "connection",
        before.values(),
        after.values(),
        remedy="give every credential of the connection again in the same change",
    )


def check_targets(policy: TargetPolicy, config: Mapping[str, Any]) -> None:
    """Refuse a config URL whose host is a private or metadata IP literal, or a ``*_url``
    value (``base_url``, ``token_url`` ...) that is no absolute http(s) URL (save time)."""
    for path, value in _destination_values(config).items():
        try:
            refuse_private_literal(policy, value)
        except TargetRefused as exc:
            raise ConfigurationError(
                f"config {path}: {exc}; {refusal_hint(exc.reason)}",
                code="target_refused",
            ) from None
        if _URL_KEY.search(path) and "{" not in value:  # a Liquid template is checked rendered
            try:
                policy.check_url(value.strip())
            except TargetRefused as exc:
                raise ConfigurationError(
                    f"config {path} must be an absolute http or https URL ({exc.reason})",
                    code="invalid_url",
                ) from None


# --- storage -----------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ConfigurationError(
            "a connection name is 1-200 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit",
            code="invalid_name",
        )


def _seal(keyring: Keyring, credentials: Mapping[str, str]) -> str:
    plain = orjson.dumps(dict(credentials)).decode()
    return keyring.encrypt(plain, context=CREDENTIALS_CONTEXT)


def _check(
    spec: ConnectorSpec,
    credentials: Mapping[str, Any],
    config: Mapping[str, Any],
    limits: Mapping[str, Any] | None,
) -> dict[str, str]:
    for key, value in credentials.items():
        if not isinstance(value, str):
            raise ConfigurationError(
                f"{spec.name}: credential {key!r} must be a string", code="invalid_settings"
            )
    spec.check_settings(credentials, config)
    effective_limits(spec, limits)
    return {str(k): str(v) for k, v in credentials.items()}


async def find_connection(connection: AsyncConnection, ref: str) -> ConnectionRow | None:
    """The connection whose id or name is ``ref``."""
    row = (
        await connection.execute(
            select(connections).where(or_(connections.c.id == ref, connections.c.name == ref))
        )
    ).first()
    return None if row is None else ConnectionRow.of(row)


async def list_connections(
    connection: AsyncConnection, *, limit: int, after: str | None = None
) -> list[ConnectionRow]:
    query = select(connections).order_by(connections.c.id).limit(limit)
    if after is not None:
        query = query.where(connections.c.id > after)
    return [ConnectionRow.of(row) for row in await connection.execute(query)]


async def create_connection(
    tx: AsyncConnection,
    *,
    keyring: Keyring,
    registry: ConnectorRegistry,
    now: datetime,
    name: str,
    connector: str,
    config: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any] | None = None,
    limits: Mapping[str, Any] | None = None,
    policy: TargetPolicy | None = None,
) -> ConnectionRow:
    """Store a new connection. With a ``policy`` (the settings' private-target rule), a
    config URL aimed at a private or metadata IP literal is refused."""
    _check_name(name)
    spec = registry.spec(connector)
    config, limits = dict(config or {}), dict(limits or {})
    secrets = _check(spec, dict(credentials or {}), config, limits)
    if policy is not None:
        check_targets(policy, config)
    values: dict[str, Any] = {
        "id": new_id("conn"),
        "name": name,
        "connector": connector,
        "config": config,
        "credentials": _seal(keyring, secrets),
        "credential_fields": sorted(secrets),
        "limits": limits,
        "status": "active",
        "last_error": None,
        "last_tested_at": None,
        "created_at": now,
        "updated_at": now,
    }
    if await find_connection(tx, name) is not None:
        raise ConnectionExists(name)
    try:
        async with tx.begin_nested():
            await tx.execute(connections.insert().values(**values))
    except IntegrityError as exc:
        raise ConnectionExists(name) from exc
    return ConnectionRow(**values)


async def update_connection(
    tx: AsyncConnection,
    ref: str,
    *,
    keyring: Keyring,
    registry: ConnectorRegistry,
    now: datetime,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any | None] | None = None,
    limits: Mapping[str, Any] | None = None,
    policy: TargetPolicy | None = None,
    may_move_credentials: bool = True,
) -> ConnectionRow:
    """Change a connection. ``config`` and ``limits`` replace the stored ones; ``credentials``
    are merged into the stored ones (a None value removes that credential).

    Without ``may_move_credentials`` (a ``write`` token), a config that sends the stored
    credentials to a new host raises :class:`CredentialMove`, unless ``credentials`` gives
    every one of them again."""
    current = await find_connection(tx, ref)
    if current is None:
        raise ConnectionNotFound(ref)
    if config is not None:
        if policy is not None:
            check_targets(policy, config)
        if not may_move_credentials and (move := moved_credentials(current, config, credentials)):
            raise move
    spec = registry.spec(current.connector)
    values: dict[str, Any] = {"updated_at": now}
    if name is not None and name != current.name:
        _check_name(name)
        if await find_connection(tx, name) is not None:
            raise ConnectionExists(name)
        values["name"] = name
    new_config = dict(config) if config is not None else current.config
    new_limits = dict(limits) if limits is not None else current.limits
    secrets: dict[str, Any] = current.decrypt(keyring)
    if credentials is not None:
        for key, value in credentials.items():
            if value is None:
                secrets.pop(key, None)
            else:
                secrets[key] = value
    secrets = _check(spec, secrets, new_config, new_limits)
    values.update(config=new_config, limits=new_limits, credential_fields=sorted(secrets))
    if credentials is not None:
        values["credentials"] = _seal(keyring, secrets)
        values["status"] = "active"
        values["last_error"] = None
    await tx.execute(update(connections).where(connections.c.id == current.id).values(**values))
    updated = await find_connection(tx, current.id)
    assert updated is not None
    return updated


async def delete_connection(tx: AsyncConnection, ref: str) -> ConnectionRow:
    """Delete a connection with its pending records (their submissions end unanswered)."""
    current = await find_connection(tx, ref)
    if current is None:
        raise ConnectionNotFound(ref)
    await tx.execute(delete(connections).where(connections.c.id == current.id))
    return current


async def set_status(
    tx: AsyncConnection, connection_id: str, *, status: str, error: str | None, now: datetime
) -> None:
    await tx.execute(
        update(connections)
        .where(connections.c.id == connection_id)
        .values(status=status, last_error=error, updated_at=now)
    )


async def store_rotated_credential(
    tx: AsyncConnection, connection_id: str, keyring: Keyring, field_name: str, value: str
) -> None:
    """Persist a credential the vendor rotated (an OAuth2 refresh token)."""
    current = await find_connection(tx, connection_id)
    if current is None:
        return
    secrets = current.decrypt(keyring)
    secrets[field_name] = value
    await tx.execute(
        update(connections)
        .where(connections.c.id == connection_id)
        .values(credentials=_seal(keyring, secrets), credential_fields=sorted(secrets))
    )


async def store_connected_credentials(
    tx: AsyncConnection,
    connection_id: str,
    keyring: Keyring,
    values: Mapping[str, str],
    *,
    now: datetime,
) -> None:
    """Merge tokens from OAuth Connect into the sealed credentials; the connection becomes
    active again. A refresh token the vendor did not send again is kept; a stale expiry is
    dropped when the new token has none."""
    current = await find_connection(tx, connection_id)
    if current is None:
        raise ConnectionNotFound(connection_id)
    secrets = current.decrypt(keyring)
    secrets.pop("access_token_expires_at", None)
    secrets |= dict(values)
    await tx.execute(
        update(connections)
        .where(connections.c.id == connection_id)
        .values(
            credentials=_seal(keyring, secrets),
            credential_fields=sorted(secrets),
            status="active",
            last_error=None,
            updated_at=now,
        )
    )
