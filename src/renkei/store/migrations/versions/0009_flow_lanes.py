"""flow_runs: lanes, so one person's runs of a flow that updates profiles go in order

Revision ID: 0009
Revises: 0008

``lane`` is the person (``user_id:u1``, else the email, else the anonymous id) for runs of
a flow with a profile action; such a run is stored ``queued`` with the event and starts
only when the lane's earlier runs have finished (see flows/engine.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

LANED = sa.text("lane IS NOT NULL")


def upgrade() -> None:
    op.add_column("flow_runs", sa.Column("lane", sa.String(255)))
    op.create_index(
        "ix_flow_runs_lane",
        "flow_runs",
        ["flow_id", "lane", "id"],
        sqlite_where=LANED,
        postgresql_where=LANED,
    )


def downgrade() -> None:
    op.drop_index("ix_flow_runs_lane", table_name="flow_runs")
    with op.batch_alter_table("flow_runs") as batch:
        batch.drop_column("lane")
