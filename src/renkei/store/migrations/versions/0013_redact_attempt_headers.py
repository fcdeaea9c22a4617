"""delivery_attempts: scrub the header values that older versions recorded in plaintext

Revision ID: 0013
Revises: 0012

Before 0.2.0 the attempt log kept every request header whose name did not look secret, so an
endpoint's custom header (``X-Partner-Id``) sat in plaintext in ``request_headers``. Views
redact it since, but the value was still in the database file. This rewrites the recorded
headers once, keeping only the values Renkei sets itself. The rule is frozen here on purpose:
a migration must mean the same thing whatever ``security/redaction.py`` becomes.
"""

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

REDACTED = "[redacted]"
PLAIN_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "content-type", "content-length"})
RENKEI_AGENT = re.compile(r"^Renkei[-/][A-Za-z0-9._/-]*$")
BATCH = 1_000

attempts = sa.table(
    "delivery_attempts",
    sa.column("id", sa.BigInteger),
    sa.column("request_headers", sa.JSON),
)


def scrubbed(headers: dict[str, Any]) -> dict[str, Any]:
    return {name: value if _plain(name, value) else REDACTED for name, value in headers.items()}


def _plain(name: str, value: Any) -> bool:
    lowered = name.lower()
    if lowered == "user-agent":
        return isinstance(value, str) and bool(RENKEI_AGENT.match(value))
    return lowered in PLAIN_HEADERS


def _as_dict(stored: Any) -> dict[str, Any]:
    if isinstance(stored, str):
        stored = json.loads(stored)
    return stored if isinstance(stored, dict) else {}


def upgrade() -> None:
    connection = op.get_bind()
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(attempts.c.id, attempts.c.request_headers)
            .where(attempts.c.id > last_id)
            .order_by(attempts.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for attempt_id, stored in rows:
            headers = _as_dict(stored)
            clean = scrubbed(headers)
            if clean != headers:
                connection.execute(
                    attempts.update()
                    .where(attempts.c.id == attempt_id)
                    .values(request_headers=clean)
                )
        last_id = rows[-1][0]


def downgrade() -> None:
    """Nothing to undo: the values are gone, which was the point."""
