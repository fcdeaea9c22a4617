"""ingest: sources, profiles, identities, raw requests

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import Ciphertext, JSONDocument, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ANONYMOUS_ONLY = sa.text("user_id IS NULL AND anonymous_id IS NOT NULL")
EMAIL_ONLY = sa.text("user_id IS NULL AND anonymous_id IS NULL AND email IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("write_key_hash", sa.String(64), unique=True),
        sa.Column("write_key_hint", sa.String(16)),
        sa.Column("write_key_encrypted", Ciphertext),
        sa.Column("verification", JSONDocument),
        sa.Column("verification_secret_encrypted", Ciphertext),
        sa.Column("mapping", JSONDocument),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )

    op.create_table(
        "webhook_requests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "source_id",
            sa.String(40),
            sa.ForeignKey("sources.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("headers", JSONDocument, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", JSONDocument),
        sa.Column("event_ids", JSONDocument, nullable=False),
    )
    op.create_index("ix_webhook_requests_source_id_id", "webhook_requests", ["source_id", "id"])
    op.create_index("ix_webhook_requests_received_at", "webhook_requests", ["received_at"])

    op.create_table(
        "profiles",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("traits", JSONDocument, nullable=False),
        sa.Column("merged_into", sa.String(40)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_profiles_merged_into", "profiles", ["merged_into"])
    op.create_index("ix_profiles_updated_at", "profiles", ["updated_at"])

    op.create_table(
        "identities",
        sa.Column("kind", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(320), primary_key=True),
        sa.Column("profile_id", sa.String(40), sa.ForeignKey("profiles.id"), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_identities_profile_id", "identities", ["profile_id"])

    op.create_index(
        "ix_events_anonymous_only",
        "events",
        ["anonymous_id"],
        sqlite_where=ANONYMOUS_ONLY,
        postgresql_where=ANONYMOUS_ONLY,
    )
    op.create_index(
        "ix_events_email_only",
        "events",
        ["email"],
        sqlite_where=EMAIL_ONLY,
        postgresql_where=EMAIL_ONLY,
    )


def downgrade() -> None:
    op.drop_index("ix_events_email_only", table_name="events")
    op.drop_index("ix_events_anonymous_only", table_name="events")
    for table in ("identities", "profiles", "webhook_requests", "sources"):
        op.drop_table(table)
