"""Tables of the ingest area (migration: store/migrations/versions/0003_ingest.py).

sources             where events come from: ``tracking`` (a write key, stored as a SHA-256
                    hash for lookup and encrypted so admins can see it again) or ``webhook``
                    (verification settings; their secrets encrypted)
webhook_requests    verified inbound webhook requests as received (secret headers and query
                    parameters redacted), for debugging and replay
profiles            people: traits as ``{name: {"value", "updated_at"}}``; a profile merged
                    into another keeps its row with ``merged_into`` so old ids still resolve
identities          ``(kind, value)`` → profile: user_id, anonymous_id, email, vendor ids

Two partial indexes on ``events`` find a profile's recent events that carry no user id.
"""

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    text,
)

from renkei.store.tables._metadata import metadata
from renkei.store.tables.core import events
from renkei.store.types import Ciphertext, JSONDocument, UTCDateTime

__all__ = ["identities", "metadata", "profiles", "sources", "webhook_requests"]

SOURCE_KINDS = ("tracking", "webhook")

sources = Table(
    "sources",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("write_key_hash", String(64), unique=True),
    Column("write_key_hint", String(16)),
    Column("write_key_encrypted", Ciphertext),
    Column("verification", JSONDocument),
    Column("verification_secret_encrypted", Ciphertext),
    Column("mapping", JSONDocument),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Tracking plan (0024): allow | omit_properties | block; NULL checks nothing.
    Column("plan_mode", String(16)),
)

webhook_requests = Table(
    "webhook_requests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("source_id", String(40), ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("method", String(10), nullable=False),
    Column("path", Text, nullable=False),
    Column("headers", JSONDocument, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", JSONDocument),
    Column("event_ids", JSONDocument, nullable=False),
    Index("ix_webhook_requests_source_id_id", "source_id", "id"),
    Index("ix_webhook_requests_received_at", "received_at"),
)

profiles = Table(
    "profiles",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("traits", JSONDocument, nullable=False),
    Column("merged_into", String(40)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_profiles_merged_into", "merged_into"),
    Index("ix_profiles_updated_at", "updated_at"),
)

identities = Table(
    "identities",
    metadata,
    Column("kind", String(64), primary_key=True),
    Column("value", String(320), primary_key=True),
    Column("profile_id", String(40), ForeignKey("profiles.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_identities_profile_id", "profile_id"),
)

# Events with a user id are found through ix_events_user_id; these cover the rest, and
# being partial they cost nothing on the (usual) events that carry a user id.
ANONYMOUS_ONLY = text("user_id IS NULL AND anonymous_id IS NOT NULL")
EMAIL_ONLY = text("user_id IS NULL AND anonymous_id IS NULL AND email IS NOT NULL")
Index(
    "ix_events_anonymous_only",
    events.c.anonymous_id,
    sqlite_where=ANONYMOUS_ONLY,
    postgresql_where=ANONYMOUS_ONLY,
)
Index(
    "ix_events_email_only",
    events.c.email,
    sqlite_where=EMAIL_ONLY,
    postgresql_where=EMAIL_ONLY,
)
