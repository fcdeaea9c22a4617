"""dashboard_sessions: the dashboard's signed-in browsers

Revision ID: 0014
Revises: 0013

A session row holds hashes only: the SHA-256 of the random cookie value and of the API
token the browser signed in with, so a copy of the database opens no session and reveals no
token. Each request re-checks the token (revoked: the session ends with it).
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("token_id", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_dashboard_sessions_expires_at", "dashboard_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("dashboard_sessions")
