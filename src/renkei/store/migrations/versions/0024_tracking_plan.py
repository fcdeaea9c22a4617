"""tracking plan: planned event types per source mode, violations

Revision ID: 0024
Revises: 0023

Reserved (empty) so that parallel work gets a fixed place in the chain; filled in by the
change that needs it.
"""

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
