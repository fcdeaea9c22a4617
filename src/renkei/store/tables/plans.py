"""Tables of the tracking plan (migration: store/migrations/versions/0024_tracking_plan.py).

plan_violations     what tracked events did against the plan, one row per (source, event,
                    problem): how often, first and last seen, the latest sample. Written
                    aggregated by ``events.violations`` (an upsert per group, never a row
                    per event).

The plan itself lives beside what it plans: ``event_types.planned`` (with the type's
schema) and ``sources.plan_mode``.
"""

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from renkei.store.tables._metadata import metadata
from renkei.store.types import JSONDocument, UTCDateTime

__all__ = ["PLAN_ACTIONS", "PLAN_MODES", "plan_violations"]

PLAN_MODES = ("allow", "omit_properties", "block")
"""What a tracking source does with an event that breaks its plan or is not in it."""
PLAN_ACTIONS = ("allowed", "omitted", "blocked")
"""What was done, per mode, to the last event of a violation group."""

plan_violations = Table(
    "plan_violations",
    metadata,
    # A digest of the group (source, type, name, problem, path): the upsert's key.
    Column("id", String(40), primary_key=True),
    Column("source_id", String(40), nullable=False),
    Column("event_type", String(16), nullable=False),
    Column("event_name", String(255)),
    Column("problem", String(32), nullable=False),
    Column("path", String(500), nullable=False),
    Column("message", Text, nullable=False),
    Column("action", String(16), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("sample", JSONDocument, nullable=False),
    # The sample's event: a person's deletion scrubs the samples of their events by it.
    Column("sample_event_id", String(255), nullable=False),
    Index("ix_plan_violations_source_id", "source_id", "id"),
)
