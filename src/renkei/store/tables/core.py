"""Foundation tables: the job queue, periodic schedules, API tokens, the audit log, events,
and the configuration version (store/config_version.py)."""

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text, text

from renkei.store.tables._metadata import metadata
from renkei.store.types import BigIntPK, JSONDocument, UTCDateTime

JOB_STATUSES = ("scheduled", "running", "dead", "cancelled")

jobs = Table(
    "jobs",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("queue", String(64), nullable=False),
    Column("task", String(128), nullable=False),
    Column("payload", JSONDocument, nullable=False),
    Column("status", String(16), nullable=False),
    Column("run_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False),
    Column("dedupe_key", String(255)),
    Column("worker_id", String(64)),
    Column("lease_expires_at", UTCDateTime),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(
        "ix_jobs_due",
        "queue",
        "run_at",
        sqlite_where=text("status = 'scheduled'"),
        postgresql_where=text("status = 'scheduled'"),
    ),
    # Claim order (migration 0007). ``status`` leads although the condition fixes it: with
    # an equality on its first column SQLite prefers it to ix_jobs_status_updated.
    Index(
        "ix_jobs_due_order",
        "status",
        "run_at",
        "id",
        sqlite_where=text("status = 'scheduled'"),
        postgresql_where=text("status = 'scheduled'"),
    ),
    Index(
        "ix_jobs_leases",
        "lease_expires_at",
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
    # At most one pending job per dedupe key: the database, not the code, keeps this true.
    Index(
        "uq_jobs_pending_dedupe_key",
        "dedupe_key",
        unique=True,
        sqlite_where=text("status = 'scheduled' AND dedupe_key IS NOT NULL"),
        postgresql_where=text("status = 'scheduled' AND dedupe_key IS NOT NULL"),
    ),
    Index("ix_jobs_status_updated", "status", "updated_at"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("task", String(128), nullable=False),
    Column("queue", String(64), nullable=False),
    Column("payload", JSONDocument, nullable=False),
    Column("every_seconds", Float),
    Column("cron", String(128)),
    Column("next_run_at", UTCDateTime, nullable=False),
    Column("last_run_at", UTCDateTime),
)

config_version = Table(
    "config_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target_type", String(64)),
    Column("target_id", String(255)),
    Column("details", JSONDocument),
)

events = Table(
    "events",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("id", String(255), nullable=False, unique=True),
    Column("type", String(200), nullable=False),
    Column("name", String(255)),
    Column("source_id", String(40)),
    Column("user_id", String(255)),
    Column("anonymous_id", String(255)),
    Column("email", String(320)),
    Column("data", JSONDocument, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_events_type_seq", "type", "seq"),
    Index("ix_events_user_id", "user_id"),
    Index("ix_events_received_at", "received_at"),
)
