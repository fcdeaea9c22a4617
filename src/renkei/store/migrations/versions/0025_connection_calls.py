"""connection calls: per-minute call and failure counts per connection

Revision ID: 0025
Revises: 0024

Reserved (empty) so that parallel work gets a fixed place in the chain; filled in by the
change that needs it.
"""

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
