"""webhooks: event types, endpoints, deliveries, attempts

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import BigIntPK, Ciphertext, JSONDocument, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('pending', 'failed', 'held')")
FALSE = sa.text("false")


def upgrade() -> None:
    op.create_table(
        "event_types",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("schema", JSONDocument),
        sa.Column("example", JSONDocument),
        sa.Column("archived", sa.Boolean, nullable=False, server_default=FALSE),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )

    op.create_table(
        "endpoints",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("event_types", JSONDocument, nullable=False),
        sa.Column("filter", JSONDocument),
        sa.Column("headers", Ciphertext),
        sa.Column("timeout_seconds", sa.Float, nullable=False),
        sa.Column("rate_limit_per_second", sa.Float),
        sa.Column("ordered", sa.Boolean, nullable=False, server_default=FALSE),
        sa.Column("ordering_key", sa.String(255)),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=FALSE),
        sa.Column("disabled_reason", sa.String(64)),
        sa.Column("disabled_at", UTCDateTime),
        sa.Column("failing_since", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("deleted_at", UTCDateTime),
    )

    op.create_table(
        "endpoint_secrets",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column(
            "endpoint_id",
            sa.String(40),
            sa.ForeignKey("endpoints.id", name="fk_endpoint_secrets_endpoint_id_endpoints"),
            nullable=False,
        ),
        sa.Column("secret", Ciphertext, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime),
    )
    op.create_index("ix_endpoint_secrets_endpoint_id", "endpoint_secrets", ["endpoint_id"])

    op.create_table(
        "webhook_config",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(
        sa.table(
            "webhook_config", sa.column("id", sa.Integer), sa.column("version", sa.BigInteger)
        ),
        [{"id": 1, "version": 1}],
    )

    op.create_table(
        "deliveries",
        sa.Column("seq", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False, unique=True),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column(
            "endpoint_id",
            sa.String(40),
            sa.ForeignKey("endpoints.id", name="fk_deliveries_endpoint_id_endpoints"),
            nullable=False,
        ),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lane", sa.String(255)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime),
        sa.Column("last_attempt_at", UTCDateTime),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_deliveries_event_id", "deliveries", ["event_id"])
    op.create_index("ix_deliveries_endpoint_created", "deliveries", ["endpoint_id", "created_at"])
    op.create_index("ix_deliveries_endpoint_status", "deliveries", ["endpoint_id", "status"])
    op.create_index(
        "ix_deliveries_lane_open",
        "deliveries",
        ["endpoint_id", "lane", "seq"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )

    op.create_table(
        "delivery_attempts",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(40)),
        sa.Column("endpoint_id", sa.String(40), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("request_headers", JSONDocument, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response_headers", JSONDocument),
        sa.Column("response_body", sa.Text),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("success", sa.Boolean, nullable=False),
    )
    op.create_index("ix_delivery_attempts_delivery_id", "delivery_attempts", ["delivery_id"])
    op.create_index(
        "ix_delivery_attempts_endpoint_started",
        "delivery_attempts",
        ["endpoint_id", "started_at"],
    )

    op.create_table(
        "delivery_lanes",
        sa.Column("endpoint_id", sa.String(40), primary_key=True),
        sa.Column("lane", sa.String(255), primary_key=True),
        sa.Column("active", sa.Boolean, nullable=False, server_default=FALSE),
    )

    op.create_table(
        "endpoint_rate",
        sa.Column("endpoint_id", sa.String(40), primary_key=True),
        sa.Column("next_slot", sa.Float, nullable=False),
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", JSONDocument, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    for table in (
        "idempotency_keys",
        "endpoint_rate",
        "delivery_lanes",
        "delivery_attempts",
        "deliveries",
        "webhook_config",
        "endpoint_secrets",
        "endpoints",
        "event_types",
    ):
        op.drop_table(table)
