"""Prometheus metrics of the ingest paths (exposed at ``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INGESTED_EVENTS = Counter(
    "renkei_ingest_events_total", "Events accepted by ingest (before dedupe)", ["path"]
)
REJECTED_REQUESTS = Counter(
    "renkei_ingest_rejected_total", "Ingest requests refused, by error code", ["path", "code"]
)
VERIFICATION_FAILURES = Counter(
    "renkei_hook_verification_failures_total",
    "Inbound webhook requests refused because verification failed",
    ["source_id", "scheme"],
)
SUPPRESSED_EVENTS = Counter(
    "renkei_ingest_suppressed_events_total",
    "Events dropped at ingest because their person is suppressed (not stored, nothing sent)",
)
OVERLOADED = Counter(
    "renkei_ingest_overloaded_total", "Ingest requests refused because storage fell behind"
)
GROUP_EVENTS = Histogram(
    "renkei_ingest_group_events",
    "Events per group commit",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)
COMMIT_SECONDS = Histogram(
    "renkei_ingest_commit_seconds",
    "Duration of one group commit",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

TRACKING_EVENTS = INGESTED_EVENTS.labels("tracking")
WEBHOOK_EVENTS = INGESTED_EVENTS.labels("webhook")
