"""foundation: job queue, schedules, API tokens, audit log, events

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import BigIntPK, JSONDocument, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'scheduled'")
PENDING_WITH_KEY = sa.text("status = 'scheduled' AND dedupe_key IS NOT NULL")
RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("task", sa.String(128), nullable=False),
        sa.Column("payload", JSONDocument, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("dedupe_key", sa.String(255)),
        sa.Column("worker_id", sa.String(64)),
        sa.Column("lease_expires_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_jobs_due", "jobs", ["queue", "run_at"], sqlite_where=PENDING, postgresql_where=PENDING
    )
    op.create_index(
        "ix_jobs_leases",
        "jobs",
        ["lease_expires_at"],
        sqlite_where=RUNNING,
        postgresql_where=RUNNING,
    )
    op.create_index(
        "uq_jobs_pending_dedupe_key",
        "jobs",
        ["dedupe_key"],
        unique=True,
        sqlite_where=PENDING_WITH_KEY,
        postgresql_where=PENDING_WITH_KEY,
    )
    op.create_index("ix_jobs_status_updated", "jobs", ["status", "updated_at"])

    op.create_table(
        "schedules",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("task", sa.String(128), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("payload", JSONDocument, nullable=False),
        sa.Column("every_seconds", sa.Float),
        sa.Column("cron", sa.String(128)),
        sa.Column("next_run_at", UTCDateTime, nullable=False),
        sa.Column("last_run_at", UTCDateTime),
    )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_used_at", UTCDateTime),
        sa.Column("revoked_at", UTCDateTime),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False, index=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target_type", sa.String(64)),
        sa.Column("target_id", sa.String(255)),
        sa.Column("details", JSONDocument),
    )

    op.create_table(
        "events",
        sa.Column("seq", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(255), nullable=False, unique=True),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("source_id", sa.String(40)),
        sa.Column("user_id", sa.String(255)),
        sa.Column("anonymous_id", sa.String(255)),
        sa.Column("email", sa.String(320)),
        sa.Column("data", JSONDocument, nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_events_type_seq", "events", ["type", "seq"])
    op.create_index("ix_events_user_id", "events", ["user_id"])
    op.create_index("ix_events_received_at", "events", ["received_at"])


def downgrade() -> None:
    for table in ("events", "audit_log", "api_tokens", "schedules", "jobs"):
        op.drop_table(table)
