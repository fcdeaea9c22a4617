"""Tables of the connectors area (migration: store/migrations/versions/0005_connectors.py).

- ``connections``: a configured connector; credentials sealed by the keyring.
- ``connector_rate_slots``: one row per vendor call in flight or recently made, per limiter:
  the shared sliding window and concurrency cap of every worker.
- ``connector_quota_days``: calls counted per limiter and vendor day.
- ``connector_submissions`` / ``connector_records``: records waiting to be sent in batches,
  and their per-record outcomes.
- ``connector_batch_timers``: at most one pending "send what has waited long enough" per
  connection and operation.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from renkei.store.tables._metadata import metadata
from renkei.store.types import BigIntPK, Ciphertext, JSONDocument, UTCDateTime

__all__ = [
    "connections",
    "connector_batch_timers",
    "connector_quota_days",
    "connector_rate_slots",
    "connector_records",
    "connector_submissions",
    "metadata",
]

connections = Table(
    "connections",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("connector", String(64), nullable=False),
    Column("config", JSONDocument, nullable=False),
    # keyring ciphertext of the credentials as a JSON object, context "connections.credentials"
    Column("credentials", Ciphertext, nullable=False),
    Column("credential_fields", JSONDocument, nullable=False),
    Column("limits", JSONDocument, nullable=False),
    Column("status", String(16), nullable=False),
    Column("last_error", Text),
    Column("last_tested_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

connector_rate_slots = Table(
    "connector_rate_slots",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("limiter", String(120), nullable=False),
    Column("holder", String(120)),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("released_at", UTCDateTime),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_connector_rate_slots_limiter", "limiter", "acquired_at"),
)

connector_quota_days = Table(
    "connector_quota_days",
    metadata,
    Column("limiter", String(120), nullable=False),
    Column("resets_at", UTCDateTime, nullable=False),
    Column("quota", Integer, nullable=False),
    Column("used", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("limiter", "resets_at"),
)

connector_submissions = Table(
    "connector_submissions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "connection_id",
        String(40),
        ForeignKey("connections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("operation", String(64), nullable=False),
    Column("total", Integer, nullable=False),
    # the caller's idempotency key: submitting again with it returns the same submission
    Column("key", String(255), unique=True),
    Column("reply_to", JSONDocument),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_connector_submissions_connection_id", "connection_id", "created_at"),
)

RECORD_STATUSES = ("pending", "running", "ok", "error")

connector_records = Table(
    "connector_records",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column(
        "submission_id",
        String(40),
        ForeignKey("connector_submissions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "connection_id",
        String(40),
        ForeignKey("connections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("operation", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("payload", JSONDocument, nullable=False),
    Column("status", String(16), nullable=False),
    Column("job_id", BigInteger),
    Column("batch_id", String(40)),
    Column("attempts", Integer, nullable=False),
    Column("vendor_id", String(255)),
    Column("vendor_status", String(64)),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("data", JSONDocument),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_connector_records_queue", "connection_id", "operation", "status", "id"),
    Index("ix_connector_records_submission_id", "submission_id", "position"),
    Index("ix_connector_records_status_job_id", "status", "job_id"),
)

connector_batch_timers = Table(
    "connector_batch_timers",
    metadata,
    Column(
        "connection_id",
        String(40),
        ForeignKey("connections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("operation", String(64), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("connection_id", "operation"),
)
