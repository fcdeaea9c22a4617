"""docs/operations/: the Prometheus rules are valid YAML rules and the Grafana dashboard
valid JSON, and every metric either names is one Renkei serves at ``/metrics`` (promtool is
not needed to run the tests)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

import renkei.hub  # noqa: F401  (registers every feature's metrics)
from renkei.connectors.metrics import default_metrics

OPERATIONS = Path(__file__).parents[2] / "docs" / "operations"
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
    "summary": ("_sum", "_count", ""),
}


def _served() -> set[str]:
    default_metrics()  # the connector metrics register on first use
    names = set()
    for family in REGISTRY.collect():
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def _metrics_in(expression: str) -> set[str]:
    return set(re.findall(r"\brenkei_[a-z_]+", expression))


def test_prometheus_rules_are_alert_rules_on_served_metrics() -> None:
    document = yaml.safe_load((OPERATIONS / "prometheus-rules.yml").read_text())
    rules: list[dict[str, Any]] = [rule for group in document["groups"] for rule in group["rules"]]
    assert len(rules) >= 10
    served = _served()
    names = [rule["alert"] for rule in rules]
    assert len(set(names)) == len(names)
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"]
        used = _metrics_in(rule["expr"])
        assert used, rule["alert"]
        assert used <= served, (rule["alert"], used - served)


def test_grafana_dashboard_queries_served_metrics() -> None:
    dashboard = json.loads((OPERATIONS / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    served = _served()
    queried: set[str] = set()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used = _metrics_in(target["expr"])
            assert used and used <= served, (panel["title"], used - served)
            queried |= used
    # The questions of issue 17: every one has a panel.
    for metric in (
        "renkei_delivery_attempts_total",
        "renkei_delivery_attempt_seconds_bucket",
        "renkei_jobs_pending",
        "renkei_jobs_oldest_pending_seconds",
        "renkei_jobs_dead",
        "renkei_flow_runs_total",
        "renkei_sync_runs_total",
        "renkei_sync_records_total",
        "renkei_connector_call_outcomes_total",
        "renkei_connector_call_duration_seconds_bucket",
        "renkei_connector_quota_limit",
        "renkei_alerts_open",
    ):
        assert metric in queried, metric
