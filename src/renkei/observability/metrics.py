"""Prometheus metrics shared by the whole process, exposed at ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "renkei_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "renkei_http_request_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOBS_FINISHED = Counter("renkei_jobs_finished_total", "Jobs finished", ["task", "outcome"])

# Labels name configured objects only (endpoint, flow, sync, task ids): never a user or event
# id, so every series set stays as small as the configuration.
_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

DELIVERY_ATTEMPTS = Counter(
    "renkei_delivery_attempts_total",
    "Webhook delivery attempts, by endpoint and outcome (the delivery's state after it: "
    "succeeded, failed = retrying, exhausted, held)",
    ["endpoint", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "renkei_delivery_attempt_seconds",
    "Time from sending a webhook delivery attempt to its response",
    ["endpoint"],
    buckets=_SECONDS_BUCKETS,
)
FLOW_RUNS = Counter(
    "renkei_flow_runs_total", "Flow runs finished, by flow and outcome", ["flow", "outcome"]
)
SYNC_RUNS = Counter(
    "renkei_sync_runs_total", "Sync runs finished, by sync and outcome", ["sync", "outcome"]
)
SYNC_RECORDS = Counter(
    "renkei_sync_records_total",
    "Records of finished sync runs, by sync and outcome (succeeded, failed)",
    ["sync", "outcome"],
)

# Read from the database when /metrics is scraped (at most every few seconds).
JOBS_PENDING = Gauge("renkei_jobs_pending", "Jobs waiting or running, by task", ["task"])
JOBS_OLDEST_SECONDS = Gauge(
    "renkei_jobs_oldest_pending_seconds",
    "How long the oldest due job of each task has waited to run",
    ["task"],
)
JOBS_DEAD = Gauge("renkei_jobs_dead", "Jobs in the dead letter, by task", ["task"])
ALERTS_OPEN = Gauge(
    "renkei_alerts_open",
    "Alerts not resolved, by kind and status (open, acknowledged)",
    ["kind", "status"],
)
