"""syncs: syncs, cursors, runs

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import JSONDocument, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "syncs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("connection", sa.String(200), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("object", sa.String(64), nullable=False),
        sa.Column("config", JSONDocument, nullable=False),
        sa.Column("trigger", JSONDocument, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("cursor", JSONDocument),
        sa.Column("next_run_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("sync_id", sa.String(40), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("read", sa.Integer, nullable=False),
        sa.Column("created", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("errors", JSONDocument, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    op.create_index("ix_sync_runs_sync", "sync_runs", ["sync_id", "id"])
    op.create_table(
        "sync_suppressions",
        sa.Column("sync_id", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(320), nullable=False),
        sa.Column("until", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("sync_id", "subject"),
    )
    op.create_table(
        "sync_pending",
        sa.Column("sync_id", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(320), nullable=False),
        sa.Column("queued_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("sync_id", "subject"),
    )
    op.create_table(
        "sync_quota_alerts",
        sa.Column("connection", sa.String(200), nullable=False),
        sa.Column("resets_at", UTCDateTime, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("connection", "resets_at", "level"),
    )


def downgrade() -> None:
    op.drop_table("sync_quota_alerts")
    op.drop_table("sync_pending")
    op.drop_table("sync_suppressions")
    op.drop_index("ix_sync_runs_sync", table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_table("syncs")
