"""flow_runs: an index of the unfinished runs, for the runs' reconciler

Revision ID: 0011
Revises: 0010

``flows.reconcile`` (flows/reconcile.py) looks every minute for unfinished runs that no job
will move; this partial index holds only the runs not finished yet, so the look stays cheap
however many finished runs are kept.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UNFINISHED = sa.text("finished_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_flow_runs_unfinished",
        "flow_runs",
        ["status", "updated_at"],
        sqlite_where=UNFINISHED,
        postgresql_where=UNFINISHED,
    )


def downgrade() -> None:
    op.drop_index("ix_flow_runs_unfinished", table_name="flow_runs")
