"""retention: what expiry needs (indexes by time, expired markers)

Revision ID: 0022
Revises: 0021

Reserved (empty) so that parallel work gets a fixed place in the chain; filled in by the
change that needs it.
"""

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
