"""secrets: named secrets a flow's HTTP action references as ``{{ secrets.NAME }}``

Revision ID: 0008
Revises: 0007

The value is keyring ciphertext (``Ciphertext``, context ``secrets.value``); it is resolved
only when a request is sent and never listed, logged or stored in a flow's spec or runs.
"""

import sqlalchemy as sa
from alembic import op

from renkei.store.types import Ciphertext, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", Ciphertext, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("uq_secrets_name", "secrets", ["name"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_secrets_name", table_name="secrets")
    op.drop_table("secrets")
