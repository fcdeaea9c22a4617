"""privacy: suppressions (hashed) and privacy requests

Revision ID: 0023
Revises: 0022

``privacy_keys`` holds the sealed HMAC key suppressions are hashed with; ``suppressions``
the hashes of suppressed people (never the values); ``privacy_requests`` each deletion's
progress per system (store/tables/privacy.py).
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import Ciphertext, JSONDocument, UTCDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("hmac_key", Ciphertext, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value_hash", sa.String(64), nullable=False),
        sa.Column("covers", JSONDocument, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "uq_suppressions_kind_hash", "suppressions", ["kind", "value_hash"], unique=True
    )
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("profile_id", sa.String(40)),
        sa.Column("events_mode", sa.String(16), nullable=False),
        sa.Column("subject_encrypted", Ciphertext),
        sa.Column("systems", JSONDocument, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    op.create_index("ix_privacy_requests_created_at", "privacy_requests", ["created_at"])


def downgrade() -> None:
    op.drop_table("privacy_requests")
    op.drop_table("suppressions")
    op.drop_table("privacy_keys")
