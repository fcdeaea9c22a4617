"""Tables of the webhooks area (migration: store/migrations/versions/0002_webhooks.py).

event_types          registered event names, optional JSON Schema and example
endpoints            outbound targets (soft-deleted: their delivery history stays)
endpoint_secrets     signing secrets, encrypted; old ones keep signing until ``expires_at``
deliveries           one event x one endpoint, with its own attempt bookkeeping
delivery_attempts    every request made: what was sent (no secrets) and what came back
delivery_lanes       FIFO endpoints: one row per (endpoint, ordering key), ``active`` while a
                     lane job exists
endpoint_rate        the per-endpoint send slot shared by all workers (rate limit)
idempotency_keys     ``Idempotency-Key`` of ``POST /api/v1/events``: the stored answer
"""

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    literal_column,
    text,
)

from renkei.store.tables._metadata import metadata
from renkei.store.types import BigIntPK, Ciphertext, JSONDocument, UTCDateTime

DELIVERY_STATUSES = ("pending", "failed", "held", "succeeded", "exhausted", "cancelled")
OPEN_STATUSES = ("pending", "failed", "held")

event_types = Table(
    "event_types",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("schema", JSONDocument),
    Column("example", JSONDocument),
    Column("archived", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # In the tracking plan (0024): tracked events of this name are checked against the schema.
    Column("planned", Boolean, nullable=False, server_default=text("false")),
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("event_types", JSONDocument, nullable=False),
    Column("filter", JSONDocument),
    Column("headers", Ciphertext),
    Column("timeout_seconds", Float, nullable=False),
    Column("rate_limit_per_second", Float),
    Column("ordered", Boolean, nullable=False, server_default=text("false")),
    Column("ordering_key", String(255)),
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    Column("disabled_reason", String(64)),
    Column("disabled_at", UTCDateTime),
    Column("failing_since", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime),
)

endpoint_secrets = Table(
    "endpoint_secrets",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("endpoint_id", String(40), ForeignKey("endpoints.id"), nullable=False),
    Column("secret", Ciphertext, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Index("ix_endpoint_secrets_endpoint_id", "endpoint_id"),
)

_LANE_OPEN_STATUSES = "'pending', 'failed', 'held'"

deliveries = Table(
    "deliveries",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("event_id", String(255), nullable=False),
    Column("endpoint_id", String(40), ForeignKey("endpoints.id"), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("lane", String(255)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("last_attempt_at", UTCDateTime),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_deliveries_event_id", "event_id"),
    Index("ix_deliveries_endpoint_created", "endpoint_id", "created_at"),
    Index("ix_deliveries_endpoint_status", "endpoint_id", "status"),
    # The overview's and the chart's counts of the last 24 h by status: read from the index
    # alone, a time range rather than every delivery ever made.
    Index("ix_deliveries_created_status", "created_at", "status"),
    Index(
        "ix_deliveries_lane_open",
        "endpoint_id",
        "lane",
        "seq",
        sqlite_where=text(f"status IN ({_LANE_OPEN_STATUSES})"),
        postgresql_where=text(f"status IN ({_LANE_OPEN_STATUSES})"),
    ),
)


def lane_open() -> ColumnElement[bool]:
    """``ix_deliveries_lane_open``'s condition, for queries on a lane's open deliveries.

    SQLite uses a partial index only for a query that repeats the index's condition term
    for term, with literals rather than bound parameters; a query's narrower status filter
    goes beside it."""
    return deliveries.c.status.in_(
        [literal_column(status) for status in _LANE_OPEN_STATUSES.split(", ")]
    )


delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40)),
    Column("endpoint_id", String(40), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("url", Text, nullable=False),
    Column("request_headers", JSONDocument, nullable=False),
    Column("status_code", Integer),
    Column("response_headers", JSONDocument),
    Column("response_body", Text),
    Column("duration_ms", Float, nullable=False),
    Column("error", Text),
    Column("success", Boolean, nullable=False),
    Index("ix_delivery_attempts_delivery_id", "delivery_id"),
    # ``success`` too: an endpoint's 24 h success rate is counted from the index alone
    # (migration 0019; it replaced ix_delivery_attempts_endpoint_started).
    Index("ix_delivery_attempts_endpoint_health", "endpoint_id", "started_at", "success"),
    # An endpoint's attempt log, newest first, a page at a time (id is the cursor).
    Index("ix_delivery_attempts_endpoint_id", "endpoint_id", "id"),
)

delivery_lanes = Table(
    "delivery_lanes",
    metadata,
    Column("endpoint_id", String(40), primary_key=True),
    Column("lane", String(255), primary_key=True),
    Column("active", Boolean, nullable=False, server_default=text("false")),
)

endpoint_rate = Table(
    "endpoint_rate",
    metadata,
    Column("endpoint_id", String(40), primary_key=True),
    Column("next_slot", Float, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
)

__all__ = [
    "DELIVERY_STATUSES",
    "OPEN_STATUSES",
    "deliveries",
    "delivery_attempts",
    "delivery_lanes",
    "endpoint_rate",
    "endpoint_secrets",
    "endpoints",
    "event_types",
    "idempotency_keys",
    "metadata",
]
