"""oauth: authorization states of OAuth connect

Revision ID: 0026
Revises: 0025

``oauth_states`` holds one "Connect" in progress per row (store/tables/oauth.py): the hash
of its ``state``, the connection it is bound to, the sealed PKCE verifier, its expiry and
when the callback used it. Tokens themselves go into the connection's sealed credentials.
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import Ciphertext, UTCDateTime

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_states",
        sa.Column("state_hash", sa.String(64), primary_key=True),
        sa.Column("connection_id", sa.String(40), nullable=False),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("code_verifier", Ciphertext),
        sa.Column("redirect_uri", sa.String(2000), nullable=False),
        sa.Column("return_to", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime),
    )
    op.create_index("ix_oauth_states_expires_at", "oauth_states", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oauth_states_expires_at", table_name="oauth_states")
    op.drop_table("oauth_states")
