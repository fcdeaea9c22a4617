"""Prometheus metrics for vendor calls, labelled by connector, operation and connection.

Every HTTP attempt counts as a call (that is what a vendor counts); retries are also counted on
their own, and errors by ``code`` (an HTTP status, a vendor code, or ``timeout``/``transport``/
``quota_exhausted``). Tests pass their own registry; the process uses :func:`default_metrics`.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ConnectorMetrics", "default_metrics"]

_LABELS = ("connector", "operation", "connection")
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ConnectorMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.calls = Counter(
            "renkei_connector_calls", "HTTP calls sent to a vendor.", _LABELS, registry=registry
        )
        self.errors = Counter(
            "renkei_connector_errors",
            "Failed vendor calls, by error code.",
            (*_LABELS, "code"),
            registry=registry,
        )
        self.latency = Histogram(
            "renkei_connector_call_duration_seconds",
            "Time from sending a vendor call to its response.",
            _LABELS,
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.outcomes = Counter(
            "renkei_connector_call_outcomes",
            "Vendor calls by outcome: ok, or the error's class (rate_limited, retryable, "
            "permanent, quota_exhausted, configuration...).",
            (*_LABELS, "outcome"),
            registry=registry,
        )
        self.retries = Counter(
            "renkei_connector_retries", "Vendor calls retried.", _LABELS, registry=registry
        )
        self.quota_used = Counter(
            "renkei_connector_quota_used",
            "Daily-quota units consumed.",
            _LABELS,
            registry=registry,
        )
        self.parked = Counter(
            "renkei_connector_parked",
            "Queued vendor work put off by a limit, by reason (window, quota, retry_after).",
            (*_LABELS, "reason"),
            registry=registry,
        )
        self.records = Counter(
            "renkei_connector_records",
            "Records sent through the queue, by outcome (ok, error, retry).",
            (*_LABELS, "outcome"),
            registry=registry,
        )
        self.quota_remaining = Gauge(
            "renkei_connector_quota_remaining",
            "Daily-quota units left until the vendor's reset.",
            ("connector", "connection"),
            registry=registry,
            multiprocess_mode="mostrecent",  # the last read, whichever process read it
        )
        self.quota_limit = Gauge(
            "renkei_connector_quota_limit",
            "Daily-quota units a connection may use per vendor day.",
            ("connector", "connection"),
            registry=registry,
            multiprocess_mode="mostrecent",  # the last read, whichever process read it
        )


@cache
def default_metrics() -> ConnectorMetrics:
    """The process-wide metrics, registered once on the default Prometheus registry."""
    return ConnectorMetrics()
