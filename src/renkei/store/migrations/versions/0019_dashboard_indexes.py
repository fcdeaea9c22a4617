"""deliveries and attempts: the dashboard's indexes

Revision ID: 0019
Revises: 0018

The dashboard's overview counts the deliveries of the last 24 hours by status, and its
chart (the overview's and an endpoint's) counts them hour by hour. No index led with
``created_at``: PostgreSQL read all the deliveries ever made (about 200 ms a count with
2,000,000 of them), SQLite skipped through ``ix_deliveries_endpoint_created`` endpoint by
endpoint and read each row for its status. With ``status`` beside ``created_at`` both
counts read a time range of this index and nothing else.

An endpoint's attempt log is read newest first, a page at a time, by id. SQLite sorted all of
the endpoint's attempts for each page (about 100 ms with 20,000 of them); in
``(endpoint_id, id)`` order it reads the page's rows. (bench/dashboard.py, docs/benchmarks.md
"Dashboard on a large database".)

Endpoints' health (the webhooks list: each endpoint's success rate over 24 hours) counted
attempts through ``ix_delivery_attempts_endpoint_started`` and read every attempt of the day
from the table for its ``success`` (about 200 ms on SQLite with 66,000 a day). That index
gains ``success`` as a third column: the count reads the index alone (about 13 ms).
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_created_status", "deliveries", ["created_at", "status"])
    op.create_index("ix_delivery_attempts_endpoint_id", "delivery_attempts", ["endpoint_id", "id"])
    op.create_index(
        "ix_delivery_attempts_endpoint_health",
        "delivery_attempts",
        ["endpoint_id", "started_at", "success"],
    )
    op.drop_index("ix_delivery_attempts_endpoint_started", table_name="delivery_attempts")


def downgrade() -> None:
    op.create_index(
        "ix_delivery_attempts_endpoint_started", "delivery_attempts", ["endpoint_id", "started_at"]
    )
    op.drop_index("ix_delivery_attempts_endpoint_health", table_name="delivery_attempts")
    op.drop_index("ix_delivery_attempts_endpoint_id", table_name="delivery_attempts")
    op.drop_index("ix_deliveries_created_status", table_name="deliveries")
