"""operations: bulk resends, replays and reruns, with their progress

Revision ID: 0018
Revises: 0017

One row per operation; ``cursor`` is committed with each batch's work, so an operation
resumes after a crash where it stopped.
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import JSONDocument, UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filter", JSONDocument, nullable=False),
        sa.Column("cursor", JSONDocument),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("result", JSONDocument),
        sa.Column("error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    op.create_index("ix_operations_key_status", "operations", ["key", "status"])


def downgrade() -> None:
    op.drop_table("operations")
