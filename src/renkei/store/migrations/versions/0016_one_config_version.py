"""config_version: one counter of configuration changes instead of two

Revision ID: 0016
Revises: 0015

``webhook_config`` (bumped on endpoint and event-type changes) and ``flow_config`` (flow
changes) become one row that every catalog compares. It starts above both, so a process
still holding a snapshot from either reloads.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

OLD = ("webhook_config", "flow_config")


def _version(table: str) -> int:
    counter = sa.table(table, sa.column("id", sa.Integer), sa.column("version", sa.BigInteger))
    value = op.get_bind().execute(sa.select(counter.c.version).where(counter.c.id == 1)).scalar()
    return int(value or 0)


def _counter(table: str, version: int) -> None:
    created = op.create_table(
        table,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(created, [{"id": 1, "version": version}])


def upgrade() -> None:
    start = sum(_version(table) for table in OLD) + 1
    _counter("config_version", start)
    for table in OLD:
        op.drop_table(table)


def downgrade() -> None:
    version = _version("config_version")
    for table in OLD:
        _counter(table, version)
    op.drop_table("config_version")
