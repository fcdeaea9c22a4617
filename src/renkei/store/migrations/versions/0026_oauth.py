"""oauth: authorization states and grants for OAuth-connected connections

Revision ID: 0026
Revises: 0025

Reserved (empty) so that parallel work gets a fixed place in the chain; filled in by the
change that needs it.
"""

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
