"""workers: running workers and their heartbeats

Revision ID: 0010
Revises: 0009

A worker registers here and refreshes ``heartbeat_at``; the others declare it dead when the
heartbeat stops (or, on the same host, when its process is gone) and take its jobs back
within seconds instead of waiting for their leases (``renkei/queue/liveness.py``).
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("host_key", sa.String(255)),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workers")
