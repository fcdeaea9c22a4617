"""sql connector: no schema change

Revision ID: 0027
Revises: 0026

Reserved for the sql connector's cursors, which need no table of their own: a sql pull sync
checkpoints its (cursor, id) position in ``syncs.cursor`` with each page, as every pull
does. Kept as a no-op so the chain stays as reserved.
"""

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
