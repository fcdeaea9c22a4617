"""connection calls: per-minute call and failure counts per connection

Revision ID: 0025
Revises: 0024

Each process counts its calls to vendors in memory and adds them here every few seconds
(an upsert that adds, so processes flushing at once lose nothing); the alert evaluator
reads a window of minutes for ``connection_failure_rate`` and prunes old minutes.
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import UTCDateTime

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connection_calls",
        sa.Column("connection_id", sa.String(40), nullable=False),
        sa.Column("minute", UTCDateTime, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "minute"),
    )
    op.create_index("ix_connection_calls_minute", "connection_calls", ["minute"])


def downgrade() -> None:
    op.drop_index("ix_connection_calls_minute", table_name="connection_calls")
    op.drop_table("connection_calls")
