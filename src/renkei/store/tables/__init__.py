"""All tables, on one ``metadata``. Each feature area keeps its tables in its own module."""

from renkei.store.tables import (
    alerts,
    connectors,
    dashboard,
    flows,
    ingest,
    oauth,
    plans,
    privacy,
    syncs,
    webhooks,
)
from renkei.store.tables._metadata import metadata
from renkei.store.tables.core import api_tokens, audit_log, events, jobs, schedules

__all__ = [
    "alerts",
    "api_tokens",
    "audit_log",
    "connectors",
    "dashboard",
    "events",
    "flows",
    "ingest",
    "jobs",
    "metadata",
    "oauth",
    "operations",
    "plans",
    "privacy",
    "schedules",
    "syncs",
    "webhooks",
]
