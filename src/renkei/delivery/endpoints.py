"""Endpoints: outbound webhook targets, their signing secrets, pause/resume and deletion.

Service functions take the caller's connection (``hub.database.transaction()`` for writes);
the API and the CLI both call them. Every change bumps the configuration version so the
in-memory matchers of every process pick it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
import structlog
from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from renkei.delivery.problems import InvalidProblem, NotFoundProblem, WebhookProblem
from renkei.delivery.signing import generate_secret, is_valid_secret
from renkei.egress.errors import TargetRefused
from renkei.egress.ssrf import refusal_hint, refuse_private_literal
from renkei.errors import Forbidden
from renkei.expr.errors import FilterError, PathError
from renkei.expr.filter import compile_filter
from renkei.expr.paths import parse_path
from renkei.ids import new_id
from renkei.security.keyring import Keyring, KeyringError
from renkei.security.targets import CredentialMove, origin
from renkei.store.config_version import bump_version
from renkei.store.tables.webhooks import (
    OPEN_STATUSES,
    deliveries,
    delivery_attempts,
    endpoint_secrets,
    endpoints,
)

if TYPE_CHECKING:
    from renkei.egress.ssrf import TargetPolicy

log = structlog.get_logger("renkei.webhooks")

__all__ = [
    "DEFAULT_TIMEOUT",
    "HEADERS_CONTEXT",
    "MAX_OLD_SECRETS",
    "MAX_TIMEOUT",
    "SECRET_CONTEXT",
    "CredentialMoveProblem",
    "Endpoint",
    "EndpointHealth",
    "create_endpoint",
    "delete_endpoint",
    "endpoint_health",
    "get_endpoint",
    "list_endpoints",
    "moved_credentials",
    "reveal_secret",
    "rotate_secret",
    "set_disabled",
    "signing_secrets",
    "update_endpoint",
    "validate_fields",
]

DEFAULT_TIMEOUT = 15.0
MAX_TIMEOUT = 30.0
MAX_OLD_SECRETS = 10
SECRET_CONTEXT = "endpoint_secrets.secret"
HEADERS_CONTEXT = "endpoints.headers"
# Headers Renkei sets itself; an endpoint's custom headers may not replace them.
RESERVED_HEADERS = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
    }
)


class CredentialMoveProblem(WebhookProblem, Forbidden):
    """A new host for an endpoint with custom headers, without the headers given again."""

    def __init__(self, move: CredentialMove) -> None:
        super().__init__(move.message, details=move.details)
        self.move = move


@dataclass(frozen=True)
class Endpoint:
    id: str
    name: str
    url: str
    description: str
    event_types: list[str]
    filter: dict[str, Any] | None
    headers: dict[str, str]
    timeout_seconds: float
    rate_limit_per_second: float | None
    ordered: bool
    ordering_key: str | None
    disabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EndpointHealth:
    attempts_24h: int = 0
    successes_24h: int = 0
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    pending: int = 0

    @property
    def success_rate_24h(self) -> float | None:
        return None if not self.attempts_24h else round(self.successes_24h / self.attempts_24h, 4)


def _decode_headers(keyring: Keyring, sealed: str | None) -> dict[str, str]:
    if not sealed:
        return {}
    decoded: dict[str, str] = orjson.loads(keyring.decrypt(sealed, context=HEADERS_CONTEXT))
    return decoded


def _seal_headers(keyring: Keyring, headers: dict[str, str] | None) -> str | None:
    if not headers:
        return None
    return keyring.encrypt(orjson.dumps(headers).decode(), context=HEADERS_CONTEXT)


def endpoint_from_row(keyring: Keyring, row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        name=row.name,
        url=row.url,
        description=row.description,
        event_types=list(row.event_types or []),
        filter=row.filter,
        headers=_decode_headers(keyring, row.headers),
        timeout_seconds=row.timeout_seconds,
        rate_limit_per_second=row.rate_limit_per_second,
        ordered=bool(row.ordered),
        ordering_key=row.ordering_key,
        disabled=bool(row.disabled),
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        failing_since=row.failing_since,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


MAX_NAME = 200  # endpoints.name is String(200)


def validate_fields(
    values: dict[str, Any], *, https_only: bool, policy: TargetPolicy | None = None
) -> dict[str, Any]:
    """Check and normalise endpoint fields (create or update); raises a 422 naming the field.

    With a ``policy`` (the settings' ``RENKEI_ALLOW_PRIVATE_TARGETS``), a URL whose host is a
    private or metadata IP literal is refused now rather than at every send."""
    out = dict(values)
    if "url" in out:
        out["url"] = _check_url(out["url"], https_only=https_only, policy=policy)
    if "name" in out and (not isinstance(out["name"], str) or not out["name"].strip()):
        raise InvalidProblem("name must not be empty", details={"path": "name"})
    if "name" in out and len(out["name"]) > MAX_NAME:
        # The column's width: a database that enforces it would refuse the row with a 500.
        raise InvalidProblem(
            f"name must be at most {MAX_NAME} characters", details={"path": "name"}
        )
    if "timeout_seconds" in out:
        timeout = out["timeout_seconds"]
        if timeout is None:
            out["timeout_seconds"] = DEFAULT_TIMEOUT
        elif not 0 < float(timeout) <= MAX_TIMEOUT:
            raise InvalidProblem(
                f"timeout_seconds must be > 0 and at most {MAX_TIMEOUT:g}",
                details={"path": "timeout_seconds"},
            )
    if out.get("rate_limit_per_second") is not None and not (
        0 < float(out["rate_limit_per_second"]) <= 100_000
    ):
        raise InvalidProblem(
            "rate_limit_per_second must be > 0 (deliveries per second)",
            details={"path": "rate_limit_per_second"},
        )
    if "event_types" in out:
        types = out["event_types"] or []
        if not all(isinstance(name, str) and name for name in types):
            raise InvalidProblem(
                "event_types must be a list of names", details={"path": "event_types"}
            )
        out["event_types"] = sorted(set(types))
    if out.get("filter") is not None:
        try:
            compile_filter(out["filter"])
        except FilterError as exc:
            raise InvalidProblem(
                f"filter: {exc}",
                code="invalid_filter",
                details=[
                    {"path": f"filter.{p.where}", "message": p.message, "operator": p.operator}
                    for p in exc.problems
                ],
            ) from exc
        if out["filter"] == {}:
            out["filter"] = None
    if out.get("headers") is not None:
        out["headers"] = _check_headers(out["headers"])
    if out.get("ordering_key") is not None:
        try:
            parse_path(out["ordering_key"])
        except PathError as exc:
            raise InvalidProblem(f"ordering_key: {exc}", details={"path": "ordering_key"}) from exc
    return out


def _check_url(url: Any, *, https_only: bool, policy: TargetPolicy | None) -> str:
    if not isinstance(url, str):
        raise InvalidProblem("url must be a string", details={"path": "url"})
    parts = urlsplit(url.strip())
    allowed = ("https",) if https_only else ("http", "https")
    if parts.scheme not in allowed or not parts.hostname:
        hint = "https" if https_only else "http or https"
        raise InvalidProblem(f"url must be an absolute {hint} URL", details={"path": "url"})
    if parts.username or parts.password:
        raise InvalidProblem(
            "url must not carry credentials; use custom headers", details={"path": "url"}
        )
    if policy is not None:
        try:
            refuse_private_literal(policy, url)
        except TargetRefused as exc:
            raise InvalidProblem(
                f"url: {exc}; {refusal_hint(exc.reason)}",
                code="target_refused",
                details={"path": "url", "reason": exc.reason},
            ) from None
    return url.strip()


def _check_headers(headers: Any) -> dict[str, str]:
    if not isinstance(headers, dict):
        raise InvalidProblem("headers must be an object", details={"path": "headers"})
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise InvalidProblem(
                "header names and values must be strings", details={"path": "headers"}
            )
        if name.lower() in RESERVED_HEADERS:
            raise InvalidProblem(
                f"header {name} is set by Renkei and cannot be overridden",
                details={"path": f"headers.{name}"},
            )
        if any(ch in name + value for ch in "\r\n\0"):
            raise InvalidProblem(
                f"header {name} contains a line break", details={"path": f"headers.{name}"}
            )
        checked[name] = value
    return checked


async def create_endpoint(
    connection: AsyncConnection,
    keyring: Keyring,
    fields: dict[str, Any],
    *,
    now: datetime,
    https_only: bool,
    secret: str | None = None,
    policy: TargetPolicy | None = None,
) -> Endpoint:
    values = validate_fields(
        {"timeout_seconds": None, "event_types": [], **fields},
        https_only=https_only,
        policy=policy,
    )
    if secret is not None and not is_valid_secret(secret):
        raise InvalidProblem(
            "secret must be whsec_ followed by base64 of 24 to 64 bytes", details={"path": "secret"}
        )
    endpoint_id = new_id("ep")
    row = {
        "id": endpoint_id,
        "name": values["name"].strip(),
        "url": values["url"],
        "description": values.get("description") or "",
        "event_types": values["event_types"],
        "filter": values.get("filter"),
        "headers": _seal_headers(keyring, values.get("headers")),
        "timeout_seconds": float(values["timeout_seconds"]),
        "rate_limit_per_second": values.get("rate_limit_per_second"),
        "ordered": bool(values.get("ordered", False)),
        "ordering_key": values.get("ordering_key"),
        "disabled": bool(values.get("disabled", False)),
        "disabled_reason": "paused" if values.get("disabled") else None,
        "disabled_at": now if values.get("disabled") else None,
        "created_at": now,
        "updated_at": now,
    }
    await connection.execute(insert(endpoints).values(**row))
    await connection.execute(
        insert(endpoint_secrets).values(
            endpoint_id=endpoint_id,
            secret=keyring.encrypt(secret or generate_secret(), context=SECRET_CONTEXT),
            created_at=now,
            expires_at=None,
        )
    )
    await bump_version(connection)
    return await get_endpoint(connection, keyring, endpoint_id)


async def get_endpoint(connection: AsyncConnection, keyring: Keyring, endpoint_id: str) -> Endpoint:
    row = (
        await connection.execute(
            select(endpoints).where(endpoints.c.id == endpoint_id, endpoints.c.deleted_at.is_(None))
        )
    ).first()
    if row is None:
        raise NotFoundProblem("endpoint", endpoint_id)
    return endpoint_from_row(keyring, row)


async def list_endpoints(
    connection: AsyncConnection,
    keyring: Keyring,
    *,
    limit: int,
    after: str | None = None,
    event_type: str | None = None,
) -> list[Endpoint]:
    query = (
        select(endpoints)
        .where(endpoints.c.deleted_at.is_(None))
        .order_by(endpoints.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(endpoints.c.id > after)
    rows = [endpoint_from_row(keyring, row) for row in await connection.execute(query)]
    if event_type is not None:
        rows = [e for e in rows if not e.event_types or event_type in e.event_types]
    return rows


async def endpoint_health(
    connection: AsyncConnection, endpoint_ids: list[str], *, now: datetime
) -> dict[str, EndpointHealth]:
    """Success rate over 24 h, the last attempt, and how many deliveries are open."""
    if not endpoint_ids:
        return {}
    since = now - timedelta(hours=24)
    attempts = delivery_attempts.c
    counts = await connection.execute(
        select(
            attempts.endpoint_id,
            func.count(),
            func.sum(case((attempts.success.is_(True), 1), else_=0)),
            func.max(attempts.started_at),
        )
        .where(attempts.endpoint_id.in_(endpoint_ids), attempts.started_at >= since)
        .group_by(attempts.endpoint_id)
    )
    stats: dict[str, dict[str, Any]] = {}
    for endpoint_id, total, ok, _last in counts:
        stats[endpoint_id] = {"attempts_24h": int(total), "successes_24h": int(ok or 0)}
    for endpoint_id in endpoint_ids:
        last = (
            await connection.execute(
                select(attempts.started_at, attempts.status_code)
                .where(attempts.endpoint_id == endpoint_id)
                .order_by(attempts.started_at.desc(), attempts.id.desc())
                .limit(1)
            )
        ).first()
        if last is not None:
            stats.setdefault(endpoint_id, {})
            stats[endpoint_id]["last_attempt_at"] = last.started_at
            stats[endpoint_id]["last_status_code"] = last.status_code
    pending = await connection.execute(
        select(deliveries.c.endpoint_id, func.count())
        .where(deliveries.c.endpoint_id.in_(endpoint_ids), deliveries.c.status.in_(OPEN_STATUSES))
        .group_by(deliveries.c.endpoint_id)
    )
    for endpoint_id, count in pending:
        stats.setdefault(endpoint_id, {})["pending"] = int(count)
    return {
        endpoint_id: EndpointHealth(**stats.get(endpoint_id, {})) for endpoint_id in endpoint_ids
    }


async def update_endpoint(
    connection: AsyncConnection,
    keyring: Keyring,
    endpoint_id: str,
    changes: dict[str, Any],
    *,
    now: datetime,
    https_only: bool,
    policy: TargetPolicy | None = None,
    may_move_credentials: bool = True,
) -> tuple[Endpoint, Endpoint]:
    """Apply ``changes``; returns (before, after). ``disabled`` is handled by set_disabled.

    Without ``may_move_credentials`` (a ``write`` token), a new host for an endpoint with
    custom headers is refused (:class:`CredentialMoveProblem`) unless ``changes`` gives the
    headers again: the stored ones would go to the new host with the next delivery."""
    before = await get_endpoint(connection, keyring, endpoint_id)
    values = validate_fields(changes, https_only=https_only, policy=policy)
    if not may_move_credentials and (move := moved_credentials(before, values)) is not None:
        raise CredentialMoveProblem(move)
    values.pop("disabled", None)
    if "headers" in values:
        values["headers"] = _seal_headers(keyring, values["headers"])
    if "name" in values:
        values["name"] = values["name"].strip()
    if values:
        await connection.execute(
            update(endpoints).where(endpoints.c.id == endpoint_id).values(**values, updated_at=now)
        )
        await bump_version(connection)
    return before, await get_endpoint(connection, keyring, endpoint_id)


def moved_credentials(before: Endpoint, changes: dict[str, Any]) -> CredentialMove | None:
    """The move of ``before``'s stored custom headers to a new host that ``changes`` makes
    (a new URL origin, the headers not given again), or None."""
    if "url" not in changes or "headers" in changes or not before.headers:
        return None
    old, new = origin(before.url), origin(str(changes["url"]))
    if old == new:
        return None
    return CredentialMove(
        "endpoint", [old], [new], remedy="give the endpoint's headers again in the same change"
    )


async def set_disabled(
    connection: AsyncConnection,
    endpoint_id: str,
    disabled: bool,
    *,
    now: datetime,
    reason: str = "paused",
) -> bool:
    """Pause (or disable for ``reason``) or resume; True when the state changed."""
    values: dict[str, Any] = {"disabled": disabled, "updated_at": now}
    if disabled:
        values.update(disabled_reason=reason, disabled_at=now)
    else:
        values.update(disabled_reason=None, disabled_at=None, failing_since=None)
    result = await connection.execute(
        update(endpoints)
        .where(
            endpoints.c.id == endpoint_id,
            endpoints.c.deleted_at.is_(None),
            endpoints.c.disabled.is_(not disabled),
        )
        .values(**values)
    )
    if result.rowcount:
        await bump_version(connection)
    return bool(result.rowcount)


async def delete_endpoint(connection: AsyncConnection, endpoint_id: str, *, now: datetime) -> int:
    """Soft-delete: the endpoint disappears, open deliveries are cancelled, history stays."""
    result = await connection.execute(
        update(endpoints)
        .where(endpoints.c.id == endpoint_id, endpoints.c.deleted_at.is_(None))
        .values(deleted_at=now, updated_at=now, disabled=True, disabled_reason="deleted")
    )
    if not result.rowcount:
        raise NotFoundProblem("endpoint", endpoint_id)
    cancelled = await connection.execute(
        update(deliveries)
        .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status.in_(OPEN_STATUSES))
        .values(status="cancelled", next_attempt_at=None, updated_at=now)
    )
    await connection.execute(
        delete(endpoint_secrets).where(endpoint_secrets.c.endpoint_id == endpoint_id)
    )
    await bump_version(connection)
    return int(cancelled.rowcount)


# -- secrets -------------------------------------------------------------------------------


async def _require_endpoint(connection: AsyncConnection, endpoint_id: str) -> None:
    found = (
        await connection.execute(
            select(endpoints.c.id).where(
                endpoints.c.id == endpoint_id, endpoints.c.deleted_at.is_(None)
            )
        )
    ).first()
    if found is None:
        raise NotFoundProblem("endpoint", endpoint_id)


async def reveal_secret(connection: AsyncConnection, keyring: Keyring, endpoint_id: str) -> str:
    """The current secret (the caller records the reveal in the audit trail)."""
    await _require_endpoint(connection, endpoint_id)
    sealed = (
        await connection.execute(
            select(endpoint_secrets.c.secret)
            .where(
                endpoint_secrets.c.endpoint_id == endpoint_id,
                endpoint_secrets.c.expires_at.is_(None),
            )
            .order_by(endpoint_secrets.c.id.desc())
            .limit(1)
        )
    ).scalar()
    if sealed is None:
        raise NotFoundProblem("secret of endpoint", endpoint_id)
    return keyring.decrypt(sealed, context=SECRET_CONTEXT)


async def rotate_secret(
    connection: AsyncConnection,
    keyring: Keyring,
    endpoint_id: str,
    *,
    now: datetime,
    grace_seconds: float,
    new_secret: str | None = None,
) -> str:
    """Issue a new secret; the old one keeps signing until the grace period ends.

    At most :data:`MAX_OLD_SECRETS` old secrets stay valid: the oldest are retired first.
    """
    await _require_endpoint(connection, endpoint_id)
    if new_secret is not None and not is_valid_secret(new_secret):
        raise InvalidProblem(
            "key must be whsec_ followed by base64 of 24 to 64 bytes", details={"path": "key"}
        )
    secret = new_secret or generate_secret()
    columns = endpoint_secrets.c
    await connection.execute(
        update(endpoint_secrets)
        .where(columns.endpoint_id == endpoint_id, columns.expires_at.is_(None))
        .values(expires_at=now + timedelta(seconds=grace_seconds))
    )
    await connection.execute(
        delete(endpoint_secrets).where(
            columns.endpoint_id == endpoint_id, columns.expires_at <= now
        )
    )
    old = (
        (
            await connection.execute(
                select(columns.id)
                .where(columns.endpoint_id == endpoint_id, columns.expires_at.is_not(None))
                .order_by(columns.id.desc())
            )
        )
        .scalars()
        .all()
    )
    if len(old) > MAX_OLD_SECRETS:
        await connection.execute(
            delete(endpoint_secrets).where(columns.id.in_(list(old[MAX_OLD_SECRETS:])))
        )
    await connection.execute(
        insert(endpoint_secrets).values(
            endpoint_id=endpoint_id,
            secret=keyring.encrypt(secret, context=SECRET_CONTEXT),
            created_at=now,
            expires_at=None,
        )
    )
    await connection.execute(
        update(endpoints).where(endpoints.c.id == endpoint_id).values(updated_at=now)
    )
    await bump_version(connection)
    return secret


async def signing_secrets(
    connection: AsyncConnection, keyring: Keyring, endpoint_ids: list[str] | None = None
) -> dict[str, list[tuple[str, datetime | None]]]:
    """Every secret that may still sign, newest first, with its expiry (None: current)."""
    columns = endpoint_secrets.c
    query = select(columns.endpoint_id, columns.secret, columns.expires_at).order_by(
        columns.endpoint_id, columns.id.desc()
    )
    if endpoint_ids is not None:
        query = query.where(columns.endpoint_id.in_(endpoint_ids))
    found: dict[str, list[tuple[str, datetime | None]]] = {}
    for endpoint_id, sealed, expires_at in await connection.execute(query):
        try:
            secret = keyring.decrypt(sealed, context=SECRET_CONTEXT)
        except KeyringError:
            # One unreadable secret (a key removed from RENKEI_SECRET_KEY) must not stop
            # every other endpoint; this one's deliveries fail with a clear error.
            log.error("endpoint.secret_unreadable", endpoint_id=endpoint_id)
            continue
        found.setdefault(endpoint_id, []).append((secret, expires_at))
    return found


def live_secrets(secrets: list[tuple[str, datetime | None]], now: datetime) -> list[str]:
    return [secret for secret, expires_at in secrets if expires_at is None or expires_at > now]
