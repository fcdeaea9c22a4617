"""sync_changes: what each realtime sync push did for the event that caused it

Revision ID: 0020
Revises: 0019

An event's timeline (the dashboard's event page) shows the sync changes the event caused;
a realtime push kept no per-event record. Read by ``event_id``, pruned by ``at``.
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_changes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("sync_id", sa.String(40), nullable=False),
        sa.Column("connection", sa.String(200), nullable=False),
        sa.Column("object", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("vendor_id", sa.String(200)),
        sa.Column("error", sa.String(1000)),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_sync_changes_event_id", "sync_changes", ["event_id"])
    op.create_index("ix_sync_changes_at", "sync_changes", ["at"])


def downgrade() -> None:
    op.drop_table("sync_changes")
