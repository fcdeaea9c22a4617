"""Tables of the dashboard (migration: store/migrations/versions/0014_dashboard_sessions.py).

dashboard_sessions   one signed-in browser: the SHA-256 of its cookie (never the cookie) and
                     of the API token it signed in with (never the token), until expires_at
"""

from sqlalchemy import Column, Index, String, Table

from renkei.store.tables._metadata import metadata
from renkei.store.types import UTCDateTime

dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("token_id", String(40), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_dashboard_sessions_expires_at", "expires_at"),
)
