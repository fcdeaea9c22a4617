"""flow_runs.finished_at index: the alerts' flow failure rate reads a window's ended runs

Revision ID: 0021
Revises: 0020

The ``alerts.evaluate`` tick counts, per flow, the runs that ended within the failure
window; without an index it would scan every run ever kept.
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_flow_runs_finished_at", "flow_runs", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_flow_runs_finished_at", table_name="flow_runs")
