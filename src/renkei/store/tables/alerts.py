"""Tables of the alerts area (migrations: store/migrations/versions/0017_alerts.py,
0025_connection_calls.py).

alerts              one problem, grouped by cause (``kind``) and subject: how often and
                    when it was seen, its state; ``open_key`` is set while it is not
                    resolved, so a subject has at most one unresolved alert per kind
connection_health   a connection whose calls are failing: since when, the last failure,
                    and whether ``connection.failing`` was published for this streak
connection_calls    calls to a connection and how many failed, per minute: each process
                    counts in memory and adds its counts here every few seconds
                    (``connectors/call_counts.py``), for the failure-rate rule
"""

from sqlalchemy import Boolean, Column, Index, Integer, PrimaryKeyConstraint, String, Table

from renkei.store.tables._metadata import metadata
from renkei.store.types import JSONDocument, UTCDateTime

ALERT_STATUSES = ("open", "acknowledged", "resolved")

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("open_key", String(400), unique=True),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False),
    Column("sample", JSONDocument),
    Column("acknowledged_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Index("ix_alerts_status_last_seen", "status", "last_seen"),
)

connection_health = Table(
    "connection_health",
    metadata,
    Column("connection_id", String(40), primary_key=True),
    Column("failing_since", UTCDateTime, nullable=False),
    Column("last_failure_at", UTCDateTime, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("notified", Boolean, nullable=False),
)

connection_calls = Table(
    "connection_calls",
    metadata,
    Column("connection_id", String(40), nullable=False),
    Column("minute", UTCDateTime, nullable=False),
    Column("calls", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    PrimaryKeyConstraint("connection_id", "minute"),
    # The rule reads a window of minutes across connections; pruning drops the oldest.
    Index("ix_connection_calls_minute", "minute"),
)
