"""What a connector is: declarative metadata, and the class that performs its operations.

A :class:`ConnectorSpec` is data the dashboard, the config file and the runtime read without
running connector code: names, credential and config fields, operations with JSON-schema input,
batch sizes, rate limits and the daily quota. A :class:`Connector` subclass pairs a spec with
one ``async`` method per operation; :meth:`Connector.call` validates input against the spec
before dispatching, and for batchable operations turns invalid records into per-record errors
so that one bad record never sinks a batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, time
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from renkei.clock import Clock, SystemClock
from renkei.connectors.auth import Auth, NoAuth
from renkei.connectors.errors import ConfigurationError, ConnectorError, PermanentError, RecordError
from renkei.connectors.http import ConnectorHTTP
from renkei.connectors.limits import (
    DailyQuota,
    InMemoryDailyQuota,
    InMemoryRateLimiter,
    RateLimiter,
    next_reset,
)
from renkei.connectors.metrics import ConnectorMetrics
from renkei.connectors.oauth_provider import OAuthProvider
from renkei.connectors.retry import Backoff
from renkei.egress.ssrf import TargetPolicy

if TYPE_CHECKING:
    from renkei.connectors.deletion import PersonDeletion
    from renkei.connectors.sync_objects import SyncObject

__all__ = [
    "CallContext",
    "Connection",
    "Connector",
    "ConnectorSpec",
    "Field",
    "Operation",
    "OperationResult",
    "QuotaSpec",
    "RateLimitSpec",
    "RecordOk",
    "RecordResult",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"{kind} name {name!r} must be snake_case")


@dataclass(frozen=True)
class Field:
    """A credential or config setting. ``secret`` values are stored encrypted and masked."""

    name: str
    description: str = ""
    secret: bool = False
    required: bool = True
    default: Any = None

    def __post_init__(self) -> None:
        _check_name("field", self.name)


@dataclass(frozen=True)
class Operation:
    """One thing a connector does. A batchable operation takes a list of up to
    ``max_batch_size`` records and ``input_schema`` describes one record; any other operation
    takes one JSON value that ``input_schema`` describes.

    ``id_field`` names a record field the vendor deduplicates on (HubSpot's event ``uuid``):
    when a record is submitted without it, Renkei fills in a UUID, so that a batch sent
    again after a timeout is not counted twice."""

    name: str
    description: str
    input_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    kind: Literal["read", "write"] = "write"
    batchable: bool = False
    max_batch_size: int | None = None
    id_field: str | None = None
    _validator: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_name("operation", self.name)
        if self.batchable != (self.max_batch_size is not None):
            raise ValueError(
                f"{self.name}: batchable operations, and only they, need a max_batch_size"
            )
        if self.max_batch_size is not None and self.max_batch_size < 1:
            raise ValueError(f"{self.name}: max_batch_size must be at least 1")
        Draft202012Validator.check_schema(self.input_schema)
        object.__setattr__(self, "_validator", Draft202012Validator(self.input_schema))

    def input_problem(self, value: Any) -> str | None:
        """Why ``value`` (one record, for a batchable operation) fails the schema, or None."""
        error = best_match(self._validator.iter_errors(value))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path)
        return f"{where}: {error.message}" if where else str(error.message)


@dataclass(frozen=True)
class RateLimitSpec:
    """At most ``calls`` per sliding ``per_seconds`` window and ``concurrency`` in flight."""

    calls: int | None
    per_seconds: float = 1.0
    concurrency: int | None = None

    def in_memory(self, clock: Clock) -> InMemoryRateLimiter:
        return InMemoryRateLimiter(
            self.calls, self.per_seconds, concurrency=self.concurrency, clock=clock
        )


@dataclass(frozen=True)
class QuotaSpec:
    """``calls`` per vendor day, which starts at ``reset`` wall-clock time in ``timezone``."""

    calls: int
    reset: time = time(0, 0)
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # fail at declaration on an unknown zone

    def next_reset(self, now: datetime) -> datetime:
        return next_reset(now, self.reset, ZoneInfo(self.timezone))

    def in_memory(self, clock: Clock) -> InMemoryDailyQuota:
        return InMemoryDailyQuota(self.calls, reset=self.reset, timezone=self.timezone, clock=clock)


@dataclass(frozen=True)
class ConnectorSpec:
    name: str
    title: str
    docs_url: str
    credentials: tuple[Field, ...] = ()
    config: tuple[Field, ...] = ()
    operations: tuple[Operation, ...] = ()
    rate_limit: RateLimitSpec | None = None
    daily_quota: QuotaSpec | None = None
    # Limits of their own for some endpoints, chosen per request with ``pool=``: HubSpot's
    # search endpoints allow 5 calls a second and don't count against the 10-second window.
    rate_limit_pools: Mapping[str, RateLimitSpec] = field(
        default_factory=dict, hash=False, compare=False
    )
    # A connector's own check of its settings' values, ``(credentials, config)`` (the sql
    # connector parses its database URL): why they are wrong, never showing a credential,
    # or None. Runs wherever settings are checked: when saved, and when opened.
    settings_problem: Callable[[Mapping[str, str], Mapping[str, Any]], str | None] | None = field(
        default=None, hash=False, compare=False
    )

    def __post_init__(self) -> None:
        _check_name("connector", self.name)
        for pool in self.rate_limit_pools:
            _check_name("rate limit pool", pool)
        for kind, names in (
            ("credential", [f.name for f in self.credentials]),
            ("config", [f.name for f in self.config]),
            ("operation", [o.name for o in self.operations]),
        ):
            if len(names) != len(set(names)):
                raise ValueError(f"{self.name}: duplicate {kind} names")

    def as_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data, for the API, the dashboard and ``renkei export``."""
        quota = self.daily_quota
        return {
            "name": self.name,
            "title": self.title,
            "docs_url": self.docs_url,
            "credentials": [asdict(f) for f in self.credentials],
            "config": [asdict(f) for f in self.config],
            "operations": [
                {
                    "name": op.name,
                    "description": op.description,
                    "kind": op.kind,
                    "batchable": op.batchable,
                    "max_batch_size": op.max_batch_size,
                    "id_field": op.id_field,
                    "input_schema": dict(op.input_schema),
                }
                for op in self.operations
            ],
            "rate_limit": asdict(self.rate_limit) if self.rate_limit else None,
            "rate_limit_pools": {
                name: asdict(limit) for name, limit in self.rate_limit_pools.items()
            },
            "daily_quota": (
                {"calls": quota.calls, "reset": quota.reset.isoformat(), "timezone": quota.timezone}
                if quota
                else None
            ),
        }

    def operation(self, name: str) -> Operation:
        for op in self.operations:
            if op.name == name:
                return op
        raise PermanentError(f"{self.name} has no operation {name!r}", code="unknown_operation")

    def check_settings(
        self, credentials: Mapping[str, str], config: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Raise ConfigurationError naming (never showing) missing or unknown fields; return
        ``config`` with defaults filled in."""
        problems: list[str] = []
        for kind, fields, values in (
            ("credential", self.credentials, credentials),
            ("config", self.config, config),
        ):
            known = {f.name for f in fields}
            problems += [
                f"missing {kind} {f.name!r}"
                for f in fields
                if f.required and values.get(f.name) in (None, "")
            ]
            problems += [f"unknown {kind} {k!r}" for k in values if k not in known]
        if not problems and self.settings_problem is not None:
            problems += [p for p in [self.settings_problem(credentials, config)] if p]
        if problems:
            raise ConfigurationError(f"{self.name}: {'; '.join(problems)}", code="invalid_settings")
        defaults = {f.name: f.default for f in self.config if f.default is not None}
        return {**defaults, **config}


@dataclass(frozen=True)
class RecordOk:
    """One record the vendor accepted; ``id`` and ``status`` as the vendor reports them
    (a Marketo lead id, ``"created"`` or ``"updated"``)."""

    index: int
    id: str | None = None
    status: str | None = None
    ok: ClassVar[bool] = True


RecordResult = RecordOk | RecordError


@dataclass(frozen=True)
class OperationResult:
    """What an operation returns: per-record outcomes for writes, ``data`` for reads."""

    records: tuple[RecordResult, ...] = ()
    data: Any = None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.records)

    @property
    def failed(self) -> tuple[RecordError, ...]:
        return tuple(r for r in self.records if isinstance(r, RecordError))


@dataclass(frozen=True)
class Connection:
    """A configured connector: decrypted credentials (never in repr), config, and where rotated
    credentials go (``on_rotate(field, new_value)``, e.g. a new OAuth refresh token)."""

    name: str
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    config: Mapping[str, Any] = field(default_factory=dict)
    on_rotate: Callable[[str, str], Awaitable[None]] | None = field(default=None, repr=False)

    def rotation_callback(self, field_name: str) -> Callable[[str], Awaitable[None]] | None:
        on_rotate = self.on_rotate
        if on_rotate is None:
            return None

        async def persist(value: str) -> None:
            await on_rotate(field_name, value)

        return persist


@dataclass(frozen=True)
class CallContext:
    """What an operation gets to work with. Credentials stay inside ``http``'s auth."""

    connection: str
    config: Mapping[str, Any]
    http: ConnectorHTTP
    clock: Clock

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> CallContext:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


Handler = Callable[[Any, CallContext], Awaitable[OperationResult]]


@dataclass
class OpenOptions:
    """What :meth:`Connector.open` was given, for :meth:`Connector.prepare` to adjust."""

    clock: Clock
    rate_limiter: RateLimiter | None
    quota: DailyQuota | None
    transport: httpx.AsyncBaseTransport | None
    metrics: ConnectorMetrics | None
    backoff: Backoff | None
    timeout: float
    policy: TargetPolicy | None = None
    """Where calls may connect (the SSRF guard); None: anywhere (SDK use outside a hub)."""


class Connector(ABC):
    """Subclass with a ``spec``, a :meth:`base_url`, usually an :meth:`auth`, and one
    ``async def <operation>(self, input, ctx) -> OperationResult`` per declared operation."""

    spec: ClassVar[ConnectorSpec]
    sync_objects: ClassVar[tuple[SyncObject, ...]] = ()
    """What syncs may read and write through this connector (``connectors/sync_objects.py``)."""
    person_deletion: ClassVar[PersonDeletion | None] = None
    """How a person is deleted at the vendor (``connectors/deletion.py``); None: it cannot be."""
    oauth: ClassVar[OAuthProvider | None] = None
    """The vendor's OAuth authorization-code flow, for "Connect" (``connectors/oauth.py``);
    None: credentials are given by hand."""

    def __init__(self) -> None:
        # Auth strategies by connection, so an OAuth2 token outlives one open() and is
        # fetched again only when it expires or the vendor rejects it.
        self._auths: dict[tuple[str, str, int, int], Auth] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec: ConnectorSpec | None = cls.__dict__.get("spec")
        if spec is not None and cls.call is Connector.call:
            missing = [
                op.name for op in spec.operations if not callable(getattr(cls, op.name, None))
            ]
            if missing:
                raise TypeError(f"{cls.__name__} has no method for operations {missing}")

    @abstractmethod
    def base_url(self, config: Mapping[str, Any]) -> str:
        """The vendor URL that operation paths are relative to."""

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        return NoAuth()

    def classify(self, response: httpx.Response, now: datetime) -> ConnectorError | None:
        """Map a response the status code alone misjudges (errors inside a 200) to an error."""
        return None

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        """One cheap authenticated call that proves the connection works; returns a short
        JSON-ready summary of what it saw. Raises a ConnectorError when it doesn't."""
        raise PermanentError(f"{self.spec.name} has no test call", code="test_not_supported")

    def cached_auth(self, connection: Connection, clock: Clock) -> Auth:
        """:meth:`auth` for ``connection``, reused across :meth:`open` calls while its
        credentials and config, the clock and the event loop stay the same (the cache key
        holds a digest of the credentials, never the values)."""
        try:
            loop = id(asyncio.get_running_loop())
        except RuntimeError:
            return self.auth(connection, clock)
        settings = (sorted(connection.credentials.items()), sorted(connection.config.items()))
        fingerprint = hashlib.sha256(repr(settings).encode()).hexdigest()
        key = (connection.name, fingerprint, id(clock), loop)
        auths = self.__dict__.setdefault("_auths", {})
        auth: Auth | None = auths.get(key)
        if auth is None:
            stale = [k for k in auths if k[0] == connection.name]
            for old in stale:
                del auths[old]
            auth = auths[key] = self.auth(connection, clock)
        return auth

    def prepare(self, connection: Connection, options: OpenOptions) -> tuple[Connector, Connection]:
        """The hook for a connector that needs more than :meth:`open` does: it may adjust
        ``options`` (a limiter, a transport) and return a copy of itself bound to this
        connection, or a changed connection. By default, nothing changes."""
        return self, connection

    def open(
        self,
        connection: Connection,
        *,
        clock: Clock | None = None,
        rate_limiter: RateLimiter | None = None,
        quota: DailyQuota | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: ConnectorMetrics | None = None,
        backoff: Backoff | None = None,
        timeout: float = 30.0,
        policy: TargetPolicy | None = None,
    ) -> CallContext:
        """A context for calling operations on ``connection``; keep it for the connection's
        lifetime, since limits are counted per limiter. Without a ``rate_limiter`` or ``quota``,
        in-memory ones are built from the spec, and so are the spec's ``rate_limit_pools``
        (replace them with ``ctx.http.use_pools(...)``, as the database-backed runtime does).
        The auth strategy is shared by every context opened for the same connection."""
        options = OpenOptions(
            clock or SystemClock(),
            rate_limiter,
            quota,
            transport,
            metrics,
            backoff,
            timeout,
            policy,
        )
        bound, connection = self.prepare(connection, options)
        clock = options.clock
        config = bound.spec.check_settings(connection.credentials, connection.config)
        connection = replace(connection, config=config)
        if options.rate_limiter is None and bound.spec.rate_limit is not None:
            options.rate_limiter = bound.spec.rate_limit.in_memory(clock)
        if options.quota is None and bound.spec.daily_quota is not None:
            options.quota = bound.spec.daily_quota.in_memory(clock)
        http = ConnectorHTTP(
            bound.base_url(config),
            connector=bound.spec.name,
            connection=connection.name,
            auth=bound.cached_auth(connection, clock),
            pools={
                name: limit.in_memory(clock) for name, limit in bound.spec.rate_limit_pools.items()
            },
            rate_limiter=options.rate_limiter,
            quota=options.quota,
            classify=bound.classify,
            backoff=options.backoff,
            clock=clock,
            metrics=options.metrics,
            transport=options.transport,
            timeout=options.timeout,
            policy=options.policy,
        )
        return CallContext(connection=connection.name, config=config, http=http, clock=clock)

    async def call(self, operation: str, input: Any, ctx: CallContext) -> OperationResult:
        """Validate ``input`` against the operation's schema and run it."""
        op = self.spec.operation(operation)
        handler: Handler = getattr(self, op.name)
        if op.batchable:
            return await self._call_batch(op, handler, input, ctx)
        if problem := op.input_problem(input):
            raise PermanentError(f"{op.name}: invalid input: {problem}", code="invalid_input")
        return await handler(input, ctx)

    async def _call_batch(
        self, op: Operation, handler: Handler, records: Any, ctx: CallContext
    ) -> OperationResult:
        if not isinstance(records, Sequence) or isinstance(records, str | bytes):
            raise PermanentError(f"{op.name} takes a list of records", code="invalid_input")
        if op.max_batch_size is not None and len(records) > op.max_batch_size:
            raise PermanentError(
                f"{op.name} takes at most {op.max_batch_size} records, got {len(records)}",
                code="batch_too_large",
            )
        results: dict[int, RecordResult] = {}
        for i, record in enumerate(records):
            if problem := op.input_problem(record):
                results[i] = RecordError(i, "invalid_input", problem)
        valid = [i for i in range(len(records)) if i not in results]
        data = None
        if valid:
            out = await handler([records[i] for i in valid], ctx)
            data = out.data
            for r in out.records:
                if 0 <= r.index < len(valid):
                    results[valid[r.index]] = replace(r, index=valid[r.index])
            for i in valid:
                results.setdefault(
                    i, RecordError(i, "missing_result", "the connector reported nothing for it")
                )
        return OperationResult(records=tuple(results[i] for i in range(len(records))), data=data)
