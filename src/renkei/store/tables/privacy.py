"""Tables of privacy (migration: store/migrations/versions/0023_privacy.py).

privacy_keys        one row: the HMAC key suppressions are hashed with, sealed by the
                    keyring (``renkei keys rotate`` re-seals it; the key itself never
                    changes, so hashes stay comparable)
suppressions        a person whose events are dropped at ingest: ``kind`` and the keyed
                    hash of the value, never the value; ``covers`` holds the hashes of the
                    other identities their profile had when suppressed
privacy_requests    a deletion and how far it got per system (``systems``: Renkei itself
                    and each connection); ``subject_encrypted`` holds the person's
                    identities, sealed, only while the request is unfinished (a vendor
                    call retried later needs them), and is cleared when it finishes
"""

from sqlalchemy import Column, Index, Integer, String, Table, Text

from renkei.store.tables._metadata import metadata
from renkei.store.types import Ciphertext, JSONDocument, UTCDateTime

__all__ = ["PRIVACY_REQUEST_STATUSES", "privacy_keys", "privacy_requests", "suppressions"]

SUPPRESSION_KINDS = ("user_id", "anonymous_id", "email")
PRIVACY_REQUEST_STATUSES = ("pending", "running", "done", "failed")

privacy_keys = Table(
    "privacy_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("hmac_key", Ciphertext, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("value_hash", String(64), nullable=False),
    Column("covers", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("uq_suppressions_kind_hash", "kind", "value_hash", unique=True),
)

privacy_requests = Table(
    "privacy_requests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("profile_id", String(40)),
    Column("events_mode", String(16), nullable=False),
    Column("subject_encrypted", Ciphertext),
    Column("systems", JSONDocument, nullable=False),
    Column("error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_privacy_requests_created_at", "created_at"),
)
