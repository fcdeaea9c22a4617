"""Renkei's connector SDK: everything a vendor connector needs apart from the database.

::

    spec        ConnectorSpec, Operation, Field, RateLimitSpec, QuotaSpec  (declarative metadata)
                Connector, Connection, CallContext, OperationResult, RecordOk
    errors      ConnectorError and its subclasses; RecordError for per-record failures
    auth        NoAuth, APIKeyAuth, BearerAuth, BasicAuth, ClientCredentialsAuth, RefreshTokenAuth
    pagination  CursorPaginator, PageTokenPaginator, OffsetPaginator, LinkHeaderPaginator, paginate
    http        ConnectorHTTP: auth, limits, logging with redaction, metrics, error mapping, retry
    limits      RateLimiter and DailyQuota protocols with in-memory implementations
    retry       Backoff and retry
    metrics     ConnectorMetrics (Prometheus)
    sync_objects  SyncObject (PullProfiles, PullEvents, PushProfiles, PushEvents), Page:
                what a connector declares for syncs (``Connector.sync_objects``)

Everything above is database-free. The runtime built on it lives in modules that are not
imported here, since they need the store:

::

    db_limits    DatabaseRateLimiter, DatabaseDailyQuota: limits shared by every worker
    connections  stored connections (credentials encrypted), per-connection limit overrides
    runtime      ConnectorRuntime: a stored connection opened with database-backed limits
    batching     submit(), the ``connectors.call`` task: batches through the durable queue
    service      ConnectorService, the hub's ``hub.connectors``
    registry     the catalog of connector classes, found in this package
    resource     the ``connections`` section of ``renkei plan/apply/export``
    feature      install(hub, service): its tasks, schedules, config section, closer
    marketo, hubspot, ...   one module per vendor (``<vendor>_syncs``: its sync objects)
"""

from renkei.connectors.auth import (
    APIKeyAuth,
    Auth,
    BasicAuth,
    BearerAuth,
    ClientCredentialsAuth,
    NoAuth,
    RefreshTokenAuth,
    Send,
)
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    QuotaExhaustedError,
    RateLimitedError,
    ReauthenticateError,
    RecordError,
    RetryableError,
)
from renkei.connectors.http import (
    REDACTED,
    Classifier,
    ConnectorHTTP,
    classify_response,
    redact_headers,
    redact_url,
)
from renkei.connectors.limits import (
    DailyQuota,
    InMemoryDailyQuota,
    InMemoryRateLimiter,
    QuotaUsage,
    RateLimiter,
    hold,
    next_reset,
)
from renkei.connectors.metrics import ConnectorMetrics, default_metrics
from renkei.connectors.pagination import (
    CursorPaginator,
    LinkHeaderPaginator,
    OffsetPaginator,
    PageTokenPaginator,
    Paginator,
    paginate,
)
from renkei.connectors.retry import Backoff, retry
from renkei.connectors.spec import (
    CallContext,
    Connection,
    Connector,
    ConnectorSpec,
    Field,
    OpenOptions,
    Operation,
    OperationResult,
    QuotaSpec,
    RateLimitSpec,
    RecordOk,
    RecordResult,
)

__all__ = [
    "REDACTED",
    "APIKeyAuth",
    "Auth",
    "Backoff",
    "BasicAuth",
    "BearerAuth",
    "CallContext",
    "Classifier",
    "ClientCredentialsAuth",
    "ConfigurationError",
    "Connection",
    "Connector",
    "ConnectorError",
    "ConnectorHTTP",
    "ConnectorMetrics",
    "ConnectorSpec",
    "CursorPaginator",
    "DailyQuota",
    "Field",
    "InMemoryDailyQuota",
    "InMemoryRateLimiter",
    "LinkHeaderPaginator",
    "NoAuth",
    "OffsetPaginator",
    "OpenOptions",
    "Operation",
    "OperationResult",
    "PageTokenPaginator",
    "Paginator",
    "PermanentError",
    "QuotaExhaustedError",
    "QuotaSpec",
    "QuotaUsage",
    "RateLimitSpec",
    "RateLimitedError",
    "RateLimiter",
    "ReauthenticateError",
    "RecordError",
    "RecordOk",
    "RecordResult",
    "RefreshTokenAuth",
    "RetryableError",
    "Send",
    "classify_response",
    "default_metrics",
    "hold",
    "next_reset",
    "paginate",
    "redact_headers",
    "redact_url",
    "retry",
]
