"""alerts: problems grouped by cause and subject; connection_health: failing streaks

Revision ID: 0017
Revises: 0016

``alerts.open_key`` is unique and set only while an alert is not resolved: however many
workers see the same failure at once, a subject has one unresolved alert per kind.
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import JSONDocument, UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("open_key", sa.String(400), unique=True),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("sample", JSONDocument),
        sa.Column("acknowledged_at", UTCDateTime),
        sa.Column("resolved_at", UTCDateTime),
    )
    op.create_index("ix_alerts_status_last_seen", "alerts", ["status", "last_seen"])
    op.create_table(
        "connection_health",
        sa.Column("connection_id", sa.String(40), primary_key=True),
        sa.Column("failing_since", UTCDateTime, nullable=False),
        sa.Column("last_failure_at", UTCDateTime, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("notified", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("connection_health")
    op.drop_table("alerts")
