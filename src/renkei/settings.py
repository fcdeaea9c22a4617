"""Every option is a ``RENKEI_*`` environment variable (see docs/configuration.md)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _alias(name: str, kind: str) -> AliasChoices:
    """An older ``RENKEI_*_RETENTION_DAYS`` name and its ``RENKEI_RETENTION_<KIND>_DAYS``
    spelling both set the field (the newer wins); keyword arguments use the field's name."""
    return AliasChoices(f"RENKEI_RETENTION_{kind.upper()}_DAYS", f"RENKEI_{name.upper()}", name)


def _parse_days_by_type(value: object) -> object:
    """``page=7,order.paid=365`` (or a JSON object) → ``{type: days}``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith(("{", "[")):
        # A type named twice is a typo: refuse it rather than let the last one win silently.
        parsed = json.loads(text, object_pairs_hook=_pairs_named_once)
        if not isinstance(parsed, dict):
            raise ValueError("must be type=days pairs or a JSON object of them")
        return parsed
    pairs: list[tuple[str, str]] = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        name, equals, days = part.rpartition("=")
        if not equals or not name.strip():
            raise ValueError(f"{part!r} is not type=days (e.g. page=7,order.paid=365)")
        pairs.append((name.strip(), days.strip()))
    return _pairs_named_once(pairs)


def _pairs_named_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    named: dict[str, Any] = {}
    for name, days in pairs:
        if name in named:
            raise ValueError(f"{name!r} is named twice")
        named[name] = days
    return named


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RENKEI_", extra="ignore")

    database_url: str = "sqlite:///./renkei.db"
    # A database server's waits, bounded so one that stops answering is a quick 503.
    database_connect_timeout_seconds: float = Field(3.0, gt=0)
    database_pool_timeout_seconds: float = Field(5.0, gt=0)
    database_statement_timeout_seconds: float = Field(5.0, gt=0)
    data_dir: Path = Path(".")
    host: str = "127.0.0.1"
    port: int = Field(8787, ge=0, le=65535)
    # Processes `renkei serve` runs on its port, each with a worker; None: one per core.
    processes: int | None = Field(None, ge=1, le=64)

    admin_token: str | None = None
    secret_key: Annotated[list[str], NoDecode] = Field(default_factory=list)

    allow_private_targets: bool = False
    allowed_target_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    retry_schedule: Annotated[tuple[float, ...], NoDecode] = DEFAULT_RETRY_SCHEDULE
    retry_jitter: float = Field(0.2, ge=0, le=1)

    # Outbound webhooks (docs/webhooks.md).
    overload_penalty_seconds: float = Field(60.0, ge=0)
    max_retry_after_seconds: float = Field(3600.0, ge=0)
    endpoint_disable_after_days: float = Field(5.0, gt=0)
    secret_rotation_grace_seconds: float = Field(86400.0, ge=0)
    failing_event_after_attempts: int = Field(4, ge=1)
    endpoint_refresh_seconds: float = Field(1.0, ge=0)
    # How often the reconciler looks for deliveries no job will move, and how old they must be.
    delivery_reconcile_seconds: float = Field(60.0, gt=0)
    # Deliveries due and not yet sent past which publishing and ingest answer 503 with
    # Retry-After (queue/pressure.py); 0: no bound.
    delivery_max_backlog: int = Field(100_000, ge=0)
    https_only: bool = False

    # Event ingest: tracking API, inbound webhooks, profiles (docs/ingest.md).
    public_url: str | None = None
    ingest_max_event_bytes: int = Field(32 * 1024, gt=0)
    ingest_max_batch_bytes: int = Field(500 * 1024, gt=0)
    ingest_max_batch_events: int = Field(2500, gt=0)
    ingest_max_pending_events: int = Field(50_000, gt=0)
    ingest_max_group_events: int = Field(1000, gt=0)
    ingest_committers: int = Field(2, gt=0)
    ingest_source_cache_seconds: float = Field(5.0, ge=0)
    webhook_request_retention_days: float = Field(
        7.0, gt=0, validation_alias=_alias("webhook_request_retention_days", "webhook_requests")
    )

    # Privacy (docs/privacy.md): a deleted person's events are deleted, or kept without
    # their personal fields (identity columns, traits, any value quoting the person).
    privacy_events: Literal["delete", "scrub"] = "delete"

    # Flows (docs/flows.md).
    flow_refresh_seconds: float = Field(1.0, ge=0)
    flow_http_timeout_seconds: float = Field(30.0, gt=0)
    flow_max_depth: int = Field(5, ge=1)
    flow_run_retention_days: float = Field(
        30.0, gt=0, validation_alias=_alias("flow_run_retention_days", "flow_runs")
    )
    # How often the reconciler looks for runs no job will move, and how old they must be.
    flow_reconcile_seconds: float = Field(60.0, gt=0)

    # Vendor connectors (docs/connectors/).
    sync_refresh_seconds: float = Field(1.0, ge=0)
    # How often the reconciler fails sync runs no job will finish, and how old they must be.
    sync_reconcile_seconds: float = Field(60.0, gt=0)
    connector_batch_wait_seconds: float = Field(2.0, ge=0)
    connector_max_wait_seconds: float = Field(5.0, ge=0)
    connector_http_timeout_seconds: float = Field(30.0, gt=0)
    connector_record_retention_days: float = Field(
        7.0, gt=0, validation_alias=_alias("connector_record_retention_days", "connector_records")
    )

    # Retention (docs/retention.md): what the hourly ``retention.expire`` job deletes.
    retention_events_days: float = Field(90.0, gt=0)
    retention_deliveries_days: float = Field(90.0, gt=0)
    retention_sync_runs_days: float = Field(30.0, gt=0)
    # Per event type: ``type=days`` pairs, comma-separated (``page=7,order.paid=365``).
    retention_event_types: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)
    retention_batch_size: int = Field(1000, gt=0)
    retention_interval_seconds: float = Field(3600.0, gt=0)

    max_body_bytes: int = Field(1_048_576, gt=0)
    # Every request's body must arrive within this many seconds of its headers, or 408.
    body_timeout_seconds: float = Field(30.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    worker_concurrency: int = Field(64, gt=0)
    worker_batch_size: int = Field(100, gt=0)
    worker_poll_interval: float = Field(1.0, gt=0)
    lease_seconds: float = Field(60.0, gt=0)
    # Workers heartbeat; one silent this long is declared dead and its jobs run elsewhere.
    worker_heartbeat_seconds: float = Field(2.0, gt=0)
    worker_dead_after_seconds: float = Field(10.0, gt=0)

    # Failure events and alerts (docs/operations.md).
    connection_failing_after_seconds: float = Field(300.0, ge=0)
    # How often a process adds its count of calls per connection to the database.
    connection_calls_flush_seconds: float = Field(15.0, gt=0)
    alert_quiet_seconds: float = Field(3600.0, gt=0)
    alert_evaluate_seconds: float = Field(60.0, gt=0)
    alert_failure_rate: float = Field(0.5, gt=0, le=1)
    alert_failure_window_seconds: float = Field(900.0, gt=0)
    alert_failure_min_count: int = Field(5, ge=1)
    alert_job_age_minutes: float = Field(15.0, gt=0)

    @field_validator("secret_key", "allowed_target_networks", mode="before")
    @classmethod
    def _csv_list(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("allowed_target_networks")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value

    @field_validator("retention_event_types", mode="before")
    @classmethod
    def _days_by_type(cls, value: object) -> object:
        return _parse_days_by_type(value)

    @field_validator("retention_event_types")
    @classmethod
    def _positive_days(cls, value: dict[str, float]) -> dict[str, float]:
        for name, days in value.items():
            if not days > 0:
                raise ValueError(f"{name}: days must be > 0, not {days}")
        return value

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, value: object) -> object:
        value = _split_csv(value)
        if isinstance(value, list | tuple) and not value:
            raise ValueError("the retry schedule needs at least one delay")
        return value

    @field_validator("retry_schedule")
    @classmethod
    def _non_negative(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry delays must be >= 0 seconds")
        return value

    @model_validator(mode="after")
    def _database_in_data_dir(self) -> Settings:
        """Unless RENKEI_DATABASE_URL says otherwise, the database is ``renkei.db`` in the
        data directory (``sqlite:///./renkei.db`` by default: the current directory)."""
        if "database_url" not in self.model_fields_set and self.data_dir != Path("."):
            self.database_url = f"sqlite:///{self.data_dir / 'renkei.db'}"
        return self

    @model_validator(mode="after")
    def _heartbeat_margin(self) -> Settings:
        # A worker that misses one heartbeat (a slow commit) must not be declared dead.
        if self.worker_dead_after_seconds < 3 * self.worker_heartbeat_seconds:
            raise ValueError("worker_dead_after_seconds must be at least 3 heartbeats")
        return self

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "renkei-secret.key"
