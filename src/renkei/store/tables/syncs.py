"""Tables of the syncs area (migration: store/migrations/versions/0006_syncs.py).

- ``syncs``: one movement of records between Renkei and a connection, with its trigger,
  mapping and the cursor it resumes from (checkpointed after every page).
- ``sync_runs``: each run with its counts and errors.
- ``sync_suppressions``: per sync and subject (an email), no realtime call until ``until``.
- ``sync_pending``: profiles whose change waits for the next batch (the quota planner's
  coalescing: one row per profile, however many changes).
- ``sync_quota_alerts``: which quota alerts fired for a connection's vendor day.
- ``sync_changes``: what each realtime push did for the event that caused it (an event's
  timeline), kept ``RENKEI_CONNECTOR_RECORD_RETENTION_DAYS``.
"""

from sqlalchemy import Boolean, Column, Index, Integer, PrimaryKeyConstraint, String, Table, text

from renkei.store.tables._metadata import metadata
from renkei.store.types import JSONDocument, UTCDateTime

__all__ = [
    "metadata",
    "sync_changes",
    "sync_pending",
    "sync_quota_alerts",
    "sync_runs",
    "sync_suppressions",
    "syncs",
]

syncs = Table(
    "syncs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("connection", String(200), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("object", String(64), nullable=False),
    Column("config", JSONDocument, nullable=False),
    Column("trigger", JSONDocument, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("cursor", JSONDocument),
    Column("next_run_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("sync_id", String(40), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("read", Integer, nullable=False),
    Column("created", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("calls", Integer, nullable=False),
    Column("errors", JSONDocument, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_sync_runs_sync", "sync_id", "id"),
    # The runs' reconciler reads the unfinished runs (migration 0012_sync_runs_unfinished.py).
    Index(
        "ix_sync_runs_unfinished",
        "started_at",
        sqlite_where=text("finished_at IS NULL"),
        postgresql_where=text("finished_at IS NULL"),
    ),
    # Retention deletes the runs that finished long ago (migration 0022_retention.py).
    Index("ix_sync_runs_finished_at", "finished_at"),
)

sync_suppressions = Table(
    "sync_suppressions",
    metadata,
    Column("sync_id", String(40), nullable=False),
    Column("subject", String(320), nullable=False),
    Column("until", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("sync_id", "subject"),
)

sync_pending = Table(
    "sync_pending",
    metadata,
    Column("sync_id", String(40), nullable=False),
    Column("subject", String(320), nullable=False),
    Column("queued_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("sync_id", "subject"),
)

sync_quota_alerts = Table(
    "sync_quota_alerts",
    metadata,
    Column("connection", String(200), nullable=False),
    Column("resets_at", UTCDateTime, nullable=False),
    Column("level", Integer, nullable=False),
    PrimaryKeyConstraint("connection", "resets_at", "level"),
)

sync_changes = Table(
    "sync_changes",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("event_id", String(40), nullable=False),
    Column("sync_id", String(40), nullable=False),
    Column("connection", String(200), nullable=False),
    Column("object", String(64), nullable=False),
    Column("outcome", String(8), nullable=False),  # created, updated, failed
    Column("vendor_id", String(200)),
    Column("error", String(1000)),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_sync_changes_event_id", "event_id"),
    Index("ix_sync_changes_at", "at"),
)
