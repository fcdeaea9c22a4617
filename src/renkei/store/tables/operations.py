"""Tables of bulk operations (migration: store/migrations/versions/0018_operations.py).

operations   one bulk operation (a resend, a replay, a rerun) and its progress: ``cursor``
             is the last item handled, committed with that item's work, so a batch job
             rerun after a crash carries on after it and never does an item twice
"""

from sqlalchemy import Column, Index, Integer, String, Table, Text

from renkei.store.tables._metadata import metadata
from renkei.store.types import JSONDocument, UTCDateTime

__all__ = ["OPERATION_STATUSES", "operations"]

OPERATION_STATUSES = ("pending", "running", "done", "failed")

operations = Table(
    "operations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(32), nullable=False),
    # kind + filter, hashed: a second identical operation while one is under way is that one.
    Column("key", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("filter", JSONDocument, nullable=False),
    Column("cursor", JSONDocument),
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False, server_default="0"),
    Column("skipped", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("result", JSONDocument),
    Column("error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_operations_key_status", "key", "status"),
)
