"""sync_runs: an index of the unfinished runs, for the runs' reconciler

Revision ID: 0012
Revises: 0011

``syncs.reconcile`` (syncs/reconcile.py) looks every minute for unfinished runs that no job
will finish; this partial index holds only the runs not finished yet (the day's realtime
runs, and the runs in progress), so the look stays cheap however many finished runs are
kept.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UNFINISHED = sa.text("finished_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_sync_runs_unfinished",
        "sync_runs",
        ["started_at"],
        sqlite_where=UNFINISHED,
        postgresql_where=UNFINISHED,
    )


def downgrade() -> None:
    op.drop_index("ix_sync_runs_unfinished", table_name="sync_runs")
