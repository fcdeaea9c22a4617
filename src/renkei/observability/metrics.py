"""Prometheus metrics shared by the whole process, exposed at ``GET /metrics``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

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


class DatabaseGauges:
    """Gauges read from the database when ``/metrics`` is scraped (renkei.api.gauges): the
    queue's backlog and dead letter by task, open alerts by kind.

    A collector of its own rather than ``Gauge`` objects: under ``renkei serve`` with several
    processes the others' metrics are summed from files, and every process reads the same
    database, so summing these would multiply them; the process answering the scrape serves
    what it read."""

    def __init__(self) -> None:
        self._families = self._empty()

    def describe(self) -> Iterable[Metric]:
        return self._empty()

    def collect(self) -> Iterable[Metric]:
        return self._families

    def update(
        self,
        *,
        pending: Mapping[str, float],
        oldest_seconds: Mapping[str, float],
        dead: Mapping[str, float],
        alerts_open: Mapping[tuple[str, str], float],
    ) -> None:
        """Replace every value at once: a scrape never sees half of a read."""
        jobs_pending, oldest, jobs_dead, alerts = self._empty()
        for task, value in pending.items():
            jobs_pending.add_metric([task], value)
        for task, value in oldest_seconds.items():
            oldest.add_metric([task], value)
        for task, value in dead.items():
            jobs_dead.add_metric([task], value)
        for (kind, status), value in alerts_open.items():
            alerts.add_metric([kind, status], value)
        self._families = [jobs_pending, oldest, jobs_dead, alerts]

    @staticmethod
    def _empty() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "renkei_jobs_pending", "Jobs waiting or running, by task", labels=["task"]
            ),
            GaugeMetricFamily(
                "renkei_jobs_oldest_pending_seconds",
                "How long the oldest due job of each task has waited to run",
                labels=["task"],
            ),
            GaugeMetricFamily(
                "renkei_jobs_dead", "Jobs in the dead letter, by task", labels=["task"]
            ),
            GaugeMetricFamily(
                "renkei_alerts_open",
                "Alerts not resolved, by kind and status (open, acknowledged)",
                labels=["kind", "status"],
            ),
        ]


DATABASE_GAUGES = DatabaseGauges()
REGISTRY.register(DATABASE_GAUGES)


def exposition_registry() -> CollectorRegistry:
    """What ``/metrics`` renders: this process's registry, or, when the processes share
    their metrics (``PROMETHEUS_MULTIPROC_DIR``, set by ``renkei serve`` with several
    processes), every process's metrics summed from their files plus the database gauges
    this process read. The multiprocess registry has no ``process_*`` figures: they would
    be one process's."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(DATABASE_GAUGES)
    return registry
