"""retention: one ``retention.expire`` job replaces flows' own pruning; sync runs by end time

Revision ID: 0022
Revises: 0021

Finished flow runs now expire with events, deliveries and sync runs in the
``retention.expire`` periodic (operations/retention.py): the ``flows.prune_runs`` schedule
and its waiting jobs go, so no tick enqueues a task nothing handles. Sync runs get an index
on ``finished_at`` so their expiry reads a range. Events, deliveries and attempts need no new
index: expiry reads them by ``seq`` below the first row inside the retention (docs/retention.md).

PostgreSQL partitioning of ``events``/``deliveries``/``delivery_attempts`` is not done here:
see docs/scaling.md for why and what it would take.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM schedules WHERE name = 'flows.prune_runs'"))
    op.execute(sa.text("DELETE FROM jobs WHERE task = 'flows.prune_runs' AND status = 'scheduled'"))
    op.create_index("ix_sync_runs_finished_at", "sync_runs", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_sync_runs_finished_at", table_name="sync_runs")
