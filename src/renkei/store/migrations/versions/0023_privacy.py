"""privacy: suppressions (hashed) and privacy requests

Revision ID: 0023
Revises: 0022

Reserved (empty) so that parallel work gets a fixed place in the chain; filled in by the
change that needs it.
"""

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
