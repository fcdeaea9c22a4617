"""tracking plan: planned event types, a plan mode per source, aggregated violations

Revision ID: 0024
Revises: 0023

``event_types.planned`` puts a type (a track event name, or ``identify``/``group`` for
traits) in the tracking plan; ``sources.plan_mode`` says what a tracking source does with
an event that breaks the plan (NULL: no check); ``plan_violations`` holds one row per
(source, event, problem), upserted from counts aggregated in memory.
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import JSONDocument, UTCDateTime

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "event_types",
        sa.Column("planned", sa.Boolean, nullable=False, server_default=sa.text("false")),
    )
    op.add_column("sources", sa.Column("plan_mode", sa.String(16)))
    op.create_table(
        "plan_violations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("source_id", sa.String(40), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("event_name", sa.String(255)),
        sa.Column("problem", sa.String(32), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("sample", JSONDocument, nullable=False),
        sa.Column("sample_event_id", sa.String(255), nullable=False),
    )
    op.create_index("ix_plan_violations_source_id", "plan_violations", ["source_id", "id"])


def downgrade() -> None:
    op.drop_table("plan_violations")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("plan_mode")
    with op.batch_alter_table("event_types") as batch:
        batch.drop_column("planned")
