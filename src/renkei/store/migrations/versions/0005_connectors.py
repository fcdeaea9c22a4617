"""connectors: connections, rate limits, quotas

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import BigIntPK, Ciphertext, JSONDocument, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("config", JSONDocument, nullable=False),
        sa.Column("credentials", Ciphertext, nullable=False),
        sa.Column("credential_fields", JSONDocument, nullable=False),
        sa.Column("limits", JSONDocument, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("last_tested_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )

    op.create_table(
        "connector_rate_slots",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("limiter", sa.String(120), nullable=False),
        sa.Column("holder", sa.String(120)),
        sa.Column("acquired_at", UTCDateTime, nullable=False),
        sa.Column("released_at", UTCDateTime),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_connector_rate_slots_limiter", "connector_rate_slots", ["limiter", "acquired_at"]
    )

    op.create_table(
        "connector_quota_days",
        sa.Column("limiter", sa.String(120), nullable=False),
        sa.Column("resets_at", UTCDateTime, nullable=False),
        sa.Column("quota", sa.Integer, nullable=False),
        sa.Column("used", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("limiter", "resets_at"),
    )

    op.create_table(
        "connector_submissions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "connection_id",
            sa.String(40),
            sa.ForeignKey("connections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("key", sa.String(255), unique=True),
        sa.Column("reply_to", JSONDocument),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    op.create_index(
        "ix_connector_submissions_connection_id",
        "connector_submissions",
        ["connection_id", "created_at"],
    )

    op.create_table(
        "connector_records",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column(
            "submission_id",
            sa.String(40),
            sa.ForeignKey("connector_submissions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "connection_id",
            sa.String(40),
            sa.ForeignKey("connections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("payload", JSONDocument, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("job_id", sa.BigInteger),
        sa.Column("batch_id", sa.String(40)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("vendor_id", sa.String(255)),
        sa.Column("vendor_status", sa.String(64)),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.Text),
        sa.Column("data", JSONDocument),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    op.create_index(
        "ix_connector_records_queue",
        "connector_records",
        ["connection_id", "operation", "status", "id"],
    )
    op.create_index(
        "ix_connector_records_submission_id", "connector_records", ["submission_id", "position"]
    )
    op.create_index("ix_connector_records_status_job_id", "connector_records", ["status", "job_id"])

    op.create_table(
        "connector_batch_timers",
        sa.Column(
            "connection_id",
            sa.String(40),
            sa.ForeignKey("connections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "operation"),
    )


def downgrade() -> None:
    for table in (
        "connector_batch_timers",
        "connector_records",
        "connector_submissions",
        "connector_quota_days",
        "connector_rate_slots",
        "connections",
    ):
        op.drop_table(table)
