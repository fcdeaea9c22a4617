"""flows: flows, versions, runs

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import BigIntPK, Ciphertext, JSONDocument, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "flows",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("signing_secret", Ciphertext, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("deleted_at", UTCDateTime),
    )
    op.create_index(
        "uq_flows_live_name",
        "flows",
        ["name"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    op.create_table(
        "flow_versions",
        sa.Column("flow_id", sa.String(40), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("spec", JSONDocument, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    flow_config = op.create_table(
        "flow_config",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(flow_config, [{"id": 1, "version": 0}])
    op.create_table(
        "flow_entries",
        sa.Column("flow_id", sa.String(40), primary_key=True),
        sa.Column("user_key", sa.String(255), primary_key=True),
        sa.Column("entered_at", UTCDateTime, nullable=False),
        sa.Column("entries", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_table(
        "flow_schedules",
        sa.Column("flow_id", sa.String(40), primary_key=True),
        sa.Column("next_run_at", UTCDateTime, nullable=False),
        sa.Column("last_run_at", UTCDateTime),
    )
    op.create_table(
        "flow_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("flow_id", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("user_key", sa.String(255)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("node", sa.Integer),
        sa.Column("context", JSONDocument, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    op.create_index("uq_flow_runs_flow_event", "flow_runs", ["flow_id", "event_id"], unique=True)
    op.create_index("ix_flow_runs_flow_id_id", "flow_runs", ["flow_id", "id"])
    op.create_index("ix_flow_runs_event_id", "flow_runs", ["event_id"])
    op.create_table(
        "flow_run_steps",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("node", sa.Integer, nullable=False),
        sa.Column("step_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("input", JSONDocument),
        sa.Column("output", JSONDocument),
        sa.Column("problems", JSONDocument),
        sa.Column("error", sa.Text),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    op.create_index("uq_flow_run_steps_run_node", "flow_run_steps", ["run_id", "node"], unique=True)


def downgrade() -> None:
    op.drop_table("flow_run_steps")
    op.drop_table("flow_runs")
    op.drop_table("flow_schedules")
    op.drop_table("flow_entries")
    op.drop_table("flow_config")
    op.drop_table("flow_versions")
    op.drop_index("uq_flows_live_name", table_name="flows")
    op.drop_table("flows")
