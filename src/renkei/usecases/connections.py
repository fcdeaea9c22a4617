"""Connections (configured connectors; credentials go in and never come out), the calls
made through them, and the connector catalog.

A vendor's refusal is translated here into the one tree: a connection the connector finds
wrong is :class:`~renkei.errors.Invalid`, a rate limit or spent quota
:class:`~renkei.errors.TooMany` (``vendor_limit``), any other vendor failure
:class:`VendorFailed` (502).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from renkei.connectors import connections
from renkei.connectors.batching import Submission
from renkei.connectors.catalog import describe_connector, list_connectors
from renkei.connectors.connections import ConnectionRow, credential_destinations
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    QuotaExhaustedError,
    RateLimitedError,
)
from renkei.connectors.spec import OperationResult
from renkei.egress.ssrf import TargetPolicy
from renkei.errors import Invalid, NotFound, RenkeiError, TooMany
from renkei.usecases.access import Actor, can_move_credentials, require
from renkei.usecases.paging import Listed, clamp_limit, decode_cursor, read_page
from renkei.usecases.via import with_via

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = [
    "VendorFailed",
    "call",
    "catalog",
    "connector_entry",
    "create_connection",
    "delete_connection",
    "get_connection",
    "get_submission",
    "list_connections",
    "submit",
    "test_connection",
    "update_connection",
    "usage",
]

# What a connector says is wrong with the input rather than with the vendor.
_INPUT_CODES = frozenset({"invalid_input", "unknown_operation", "batch_too_large"})


class VendorFailed(RenkeiError):
    """The vendor failed a call made now (the connector's error kind and code in details)."""

    status = 502
    default_code = "vendor_error"


def _invalid(exc: ConnectorError) -> Invalid:
    return Invalid(exc.message, code=exc.code or "invalid")


# --- the catalog -------------------------------------------------------------------------


def catalog(
    actor: Actor, *, limit: int | None = None, cursor: str | None = None
) -> Listed[dict[str, Any]]:
    """The connectors Renkei ships, by name: operations, credential and config fields,
    limits."""
    require(actor, "read")
    size = clamp_limit(limit)
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, str):
        raise RenkeiError("cursor is not valid", code="invalid_cursor")
    entries = [
        _with_sandbox(entry)
        for entry in list_connectors()
        if after is None or entry["name"] > after
    ]
    return Listed.cut(entries, size, lambda entry: entry["name"])


def connector_entry(actor: Actor, name: str) -> dict[str, Any]:
    """One connector's catalog entry; NotFound (``UnknownConnector``) for a name not shipped."""
    require(actor, "read")
    return _with_sandbox(describe_connector(name))


def _with_sandbox(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with the local sandbox that plays its vendor (None: there is none)."""
    from renkei.sandbox import SANDBOX_NAMES  # loaded on first use: it builds vendor apps

    name = entry["name"]
    sandbox = {"name": name, "command": f"renkei sandbox {name}"}
    return {**entry, "sandbox": sandbox if name in SANDBOX_NAMES else None}


# --- connections -------------------------------------------------------------------------


async def create_connection(
    hub: Hub,
    actor: Actor,
    *,
    name: str,
    connector: str,
    config: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any] | None = None,
    limits: Mapping[str, Any] | None = None,
    via: str | None = None,
) -> ConnectionRow:
    """Store a connection with its credentials encrypted."""
    require(actor, "write")
    try:
        async with hub.database.transaction() as tx:
            row = await connections.create_connection(
                tx,
                keyring=hub.keyring,
                registry=hub.connectors.registry,
                now=hub.clock.now(),
                name=name,
                connector=connector,
                config=config,
                credentials=credentials,
                limits=limits,
                policy=TargetPolicy.from_settings(hub.settings),
            )
            await hub.audit(
                tx,
                actor,
                "connection.created",
                target_type="connection",
                target_id=row.id,
                details=with_via(via, {"name": row.name, "connector": row.connector}),
            )
    except ConfigurationError as exc:
        raise _invalid(exc) from None
    return row


async def list_connections(
    hub: Hub, actor: Actor, *, limit: int | None = None, cursor: str | None = None
) -> Listed[ConnectionRow]:
    require(actor, "read")
    return await read_page(
        hub.database,
        lambda reader, size, after: connections.list_connections(reader, limit=size, after=after),
        lambda row: row.id,
        limit=limit,
        cursor=cursor,
    )


async def get_connection(hub: Hub, actor: Actor, ref: str) -> ConnectionRow:
    """A connection by id or name."""
    require(actor, "read")
    return await hub.connectors.runtime.load(ref)


async def update_connection(
    hub: Hub,
    actor: Actor,
    ref: str,
    *,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any | None] | None = None,
    limits: Mapping[str, Any] | None = None,
    changed: list[str],
    via: str | None = None,
) -> ConnectionRow:
    """``config`` and ``limits`` replace the stored ones; ``credentials`` are merged (None
    removes one). Sending the stored credentials to a new host needs ``admin`` (or the
    credentials given again), and is audited with the origins (never a credential).
    ``changed`` names the fields the caller gave, for the audit entry."""
    require(actor, "write")
    try:
        async with hub.database.transaction() as tx:
            before = await connections.find_connection(tx, ref)
            row = await connections.update_connection(
                tx,
                ref,
                keyring=hub.keyring,
                registry=hub.connectors.registry,
                now=hub.clock.now(),
                name=name,
                config=config,
                credentials=credentials,
                limits=limits,
                policy=TargetPolicy.from_settings(hub.settings),
                may_move_credentials=can_move_credentials(actor),
            )
            moved_from = credential_destinations(before.config if before else {})
            moved_to = credential_destinations(row.config)
            if any(moved_from.get(path) != where for path, where in moved_to.items()):
                await hub.audit(
                    tx,
                    actor,
                    "connection.target_changed",
                    target_type="connection",
                    target_id=row.id,
                    details={
                        "from": sorted(set(moved_from.values())),
                        "to": sorted(set(moved_to.values())),
                        "given_again": sorted(
                            key for key, value in (credentials or {}).items() if value
                        ),
                    },
                )
            await hub.audit(
                tx,
                actor,
                "connection.updated",
                target_type="connection",
                target_id=row.id,
                details=with_via(via, {"changed": sorted(changed)}),
            )
    except ConfigurationError as exc:
        raise _invalid(exc) from None
    return row


async def delete_connection(
    hub: Hub, actor: Actor, ref: str, *, via: str | None = None
) -> ConnectionRow:
    """Delete a connection with its pending records (their submissions end unanswered)."""
    require(actor, "write")
    async with hub.database.transaction() as tx:
        row = await connections.delete_connection(tx, ref)
        await hub.audit(
            tx,
            actor,
            "connection.deleted",
            target_type="connection",
            target_id=row.id,
            details=with_via(via, {"name": row.name}),
        )
    return row


async def test_connection(
    hub: Hub, actor: Actor, ref: str, *, via: str | None = None
) -> dict[str, Any]:
    """One cheap authenticated call to the vendor; ``ok`` says how it went, ``error`` why
    not (a failed test is an answer, not an error)."""
    require(actor, "write")
    row = await hub.connectors.runtime.load(ref)
    outcome = await hub.connectors.runtime.test(row)
    async with hub.database.transaction() as tx:
        await hub.audit(
            tx,
            actor,
            "connection.tested",
            target_type="connection",
            target_id=row.id,
            details=with_via(via, {"ok": outcome["ok"]}),
        )
    return outcome


async def usage(hub: Hub, actor: Actor, ref: str) -> dict[str, Any]:
    """Calls in the current rate window, in flight, and used of today's quota."""
    require(actor, "read")
    row = await hub.connectors.runtime.load(ref)
    return {"connection": row.name, **await hub.connectors.runtime.usage(row)}


async def submit(
    hub: Hub,
    actor: Actor,
    ref: str,
    operation: str,
    records: list[Any],
    *,
    reply_to: Mapping[str, Any] | None = None,
) -> tuple[ConnectionRow, str]:
    """Queue records for an operation (sent in batches under the connection's limits);
    returns the connection and the submission id."""
    require(actor, "write")
    row = await hub.connectors.runtime.load(ref)
    try:
        async with hub.database.transaction() as tx:
            submission_id = await hub.connectors.submit(
                tx, row.id, operation, records, reply_to=reply_to
            )
    except PermanentError as exc:
        raise _invalid(exc) from None
    return row, submission_id


async def get_submission(
    hub: Hub, actor: Actor, submission_id: str, *, ref: str | None = None
) -> Submission:
    """A submission with every record's outcome (of connection ``ref`` when given)."""
    require(actor, "read")
    row = None if ref is None else await hub.connectors.runtime.load(ref)
    found = await hub.connectors.submission(submission_id)
    if found is None or (row is not None and found.connection_id != row.id):
        raise NotFound("submission", submission_id)
    return found


async def call(hub: Hub, actor: Actor, ref: str, operation: str, input: Any) -> OperationResult:
    """Run an operation now, outside the queue (reads and previews), under the same limits."""
    require(actor, "write")
    row = await hub.connectors.runtime.load(ref)
    try:
        return await hub.connectors.runtime.call(row, operation, input)
    except (RateLimitedError, QuotaExhaustedError) as exc:
        if isinstance(exc, QuotaExhaustedError):
            wait = max(1, int((exc.resets_at - hub.clock.now()).total_seconds()))
        else:
            wait = max(1, round(exc.retry_after or 1))
        raise TooMany(exc.message, retry_after=wait, code="vendor_limit") from None
    except PermanentError as exc:
        if exc.code in _INPUT_CODES:
            raise _invalid(exc) from None
        raise _vendor_failed(exc) from None
    except ConnectorError as exc:
        raise _vendor_failed(exc) from None


def _vendor_failed(exc: ConnectorError) -> VendorFailed:
    return VendorFailed(exc.message, details={"kind": type(exc).__name__, "code": exc.code})
