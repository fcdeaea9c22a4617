"""Tables of the flows area (migration: store/migrations/versions/0004_flows.py).

flows            a flow's identity and switches; ``version`` is the current version
flow_versions    every saved spec, immutable: runs under way keep reading theirs
flow_entries     one row per (flow, user key): the re-eligibility ledger, enforced by
                 the primary key so concurrent workers cannot both enter a user
flow_runs        one run of one flow version for one event
flow_run_steps   what each step of a run took in and gave out (secrets redacted)
secrets          named secrets (``{{ secrets.NAME }}`` in a flow's HTTP action), encrypted
                 (migration 0008_secrets.py)
"""

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from renkei.store.tables._metadata import metadata
from renkei.store.types import BigIntPK, Ciphertext, JSONDocument, UTCDateTime

__all__ = [
    "RUN_STATUSES",
    "flow_entries",
    "flow_run_steps",
    "flow_runs",
    "flow_versions",
    "flows",
    "metadata",
    "secrets",
]

RUN_STATUSES = ("queued", "running", "waiting", "succeeded", "stopped", "failed", "skipped")
_LIVE = text("deleted_at IS NULL")

flows = Table(
    "flows",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("version", Integer, nullable=False),
    Column("signing_secret", Ciphertext, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime),
    Index("uq_flows_live_name", "name", unique=True, sqlite_where=_LIVE, postgresql_where=_LIVE),
)

flow_versions = Table(
    "flow_versions",
    metadata,
    Column("flow_id", String(40), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("spec", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

flow_entries = Table(
    "flow_entries",
    metadata,
    Column("flow_id", String(40), primary_key=True),
    Column("user_key", String(255), primary_key=True),
    Column("entered_at", UTCDateTime, nullable=False),
    Column("entries", Integer, nullable=False, server_default="1"),
)

flow_runs = Table(
    "flow_runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("flow_id", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("user_key", String(255)),
    # Runs of a flow that updates profiles, per person (migration 0009_flow_lanes.py).
    Column("lane", String(255)),
    Column("status", String(16), nullable=False),
    Column("node", Integer),
    Column("context", JSONDocument, nullable=False),
    Column("error", Text),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    # One run per flow and event: a start job rerun after a crash finds its run.
    Index("uq_flow_runs_flow_event", "flow_id", "event_id", unique=True),
    Index("ix_flow_runs_flow_id_id", "flow_id", "id"),
    Index("ix_flow_runs_event_id", "event_id"),
    Index(
        "ix_flow_runs_lane",
        "flow_id",
        "lane",
        "id",
        sqlite_where=text("lane IS NOT NULL"),
        postgresql_where=text("lane IS NOT NULL"),
    ),
    # The runs' reconciler reads the unfinished runs (migration 0011_flow_runs_unfinished.py).
    Index(
        "ix_flow_runs_unfinished",
        "status",
        "updated_at",
        sqlite_where=text("finished_at IS NULL"),
        postgresql_where=text("finished_at IS NULL"),
    ),
    # The alerts' flow failure rate reads the runs that ended in its window
    # (migration 0021_flow_runs_finished_at.py).
    Index("ix_flow_runs_finished_at", "finished_at"),
)

flow_run_steps = Table(
    "flow_run_steps",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("run_id", String(40), nullable=False),
    Column("node", Integer, nullable=False),
    Column("step_id", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("input", JSONDocument),
    Column("output", JSONDocument),
    Column("problems", JSONDocument),
    Column("error", Text),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("uq_flow_run_steps_run_node", "run_id", "node", unique=True),
)

secrets = Table(
    "secrets",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("value", Ciphertext, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("uq_secrets_name", "name", unique=True),
)
