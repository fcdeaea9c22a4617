"""The ``sql`` connector: rows of a company's own database, read-only (reverse ETL).

The credential is a database URL (stored encrypted, never shown); the servers it may name
and how each one is opened read-only live in ``renkei/store/external.py``. One operation,
``read_rows``: a page of a single SELECT after a (cursor, id) position. Syncs declare what
pages become (``connectors/sql_syncs.py``): profiles or events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from renkei.clock import Clock
from renkei.connectors.auth import Auth
from renkei.connectors.errors import ConfigurationError, PermanentError, RetryableError
from renkei.connectors.spec import (
    CallContext,
    Connection,
    Connector,
    ConnectorSpec,
    Field,
    OpenOptions,
    Operation,
    OperationResult,
)
from renkei.connectors.sql_syncs import MAX_PAGE, SQL_SYNC_OBJECTS
from renkei.egress.errors import TargetRefused
from renkei.egress.ssrf import literal_address
from renkei.store.external import (
    URL_HINT,
    ExternalDatabaseError,
    ExternalURL,
    parse_external_url,
    probe,
    read_rows,
)

__all__ = ["SqlConnector"]

READ_ROWS: dict[str, Any] = {
    "type": "object",
    "required": ["query", "cursor_column", "id_column", "limit"],
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 100_000},
        "cursor_column": {"type": "string", "minLength": 1, "maxLength": 200},
        "id_column": {"type": "string", "minLength": 1, "maxLength": 200},
        "after": {"type": ["array", "null"], "minItems": 2, "maxItems": 2},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
    },
    "additionalProperties": False,
}


MAX_TIMEOUT = 600


def settings_problem(credentials: Mapping[str, str], config: Mapping[str, Any]) -> str | None:
    """Why the ``url`` credential is no usable database URL (never showing it), or the
    timeout no number of seconds; None when both are fine."""
    try:
        parse_external_url(str(credentials.get("url") or ""))
    except ExternalDatabaseError as exc:
        return f"credential 'url': {exc.message}"
    timeout = config.get("timeout_seconds", 30)
    if (
        not isinstance(timeout, int | float)
        or isinstance(timeout, bool)
        or not 1 <= timeout <= MAX_TIMEOUT
    ):
        return f"config 'timeout_seconds' must be a number from 1 to {MAX_TIMEOUT}"
    return None


def connector_error(exc: ExternalDatabaseError) -> Exception:
    if exc.kind == "invalid_url":
        return ConfigurationError(exc.message, code="invalid_url")
    if exc.kind == "unreachable":
        return RetryableError(exc.message, code="unreachable")
    if exc.kind == "refused":
        return PermanentError(exc.message, code="query_refused")
    return PermanentError(exc.message, code="query_failed")


class DatabaseAuth(Auth):
    """The parsed database URL, held where every connector keeps its credentials (inside
    the context's ``http``), its password listed for scrubbing."""

    def __init__(self, target: ExternalURL) -> None:
        self.target = target

    def secrets(self) -> tuple[str, ...]:
        return (self.target.password,) if self.target.password else ()


class SqlConnector(Connector):
    spec = ConnectorSpec(
        name="sql",
        title="SQL database (read-only: reverse ETL)",
        docs_url="https://docs.sqlalchemy.org/en/20/core/engines.html#database-urls",
        credentials=(
            Field("url", f"Database URL, read-only user advised ({URL_HINT})", secret=True),
        ),
        config=(
            Field(
                "timeout_seconds",
                f"Seconds one connection or query may take (1 to {MAX_TIMEOUT})",
                required=False,
                default=30,
            ),
        ),
        operations=(
            Operation(
                "read_rows",
                "Up to `limit` rows of one SELECT after a (cursor, id) position, in that order",
                READ_ROWS,
                kind="read",
            ),
        ),
        settings_problem=settings_problem,
    )
    sync_objects = SQL_SYNC_OBJECTS
    auth_kinds: ClassVar[tuple[str, ...]] = ("database_url",)
    limits_notes: ClassVar[tuple[str, ...]] = (
        f"pages of at most {MAX_PAGE:,} rows; one connection per page, closed after it",
        "read-only: one SELECT (or WITH ... SELECT) a query, in a read-only transaction",
        "no sandbox: point it at a real local database server or file",
    )

    def base_url(self, config: Mapping[str, Any]) -> str:
        return "http://127.0.0.1"  # no HTTP: the database is reached by its own driver

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        try:
            return DatabaseAuth(parse_external_url(connection.credentials["url"]))
        except ExternalDatabaseError as exc:
            raise connector_error(exc) from None

    def prepare(self, connection: Connection, options: OpenOptions) -> tuple[Connector, Connection]:
        """A host given as an IP literal obeys the private-target policy like any vendor
        URL (a name is not resolved here: the database user's own rights still apply)."""
        self.spec.check_settings(connection.credentials, connection.config)
        try:
            target = parse_external_url(connection.credentials["url"])
        except ExternalDatabaseError as exc:
            raise connector_error(exc) from None
        address = literal_address(target.url.host) if target.url.host else None
        if options.policy is not None and address is not None:
            try:
                options.policy.check_address(address)
            except TargetRefused as exc:
                raise ConfigurationError(str(exc), code="target_refused") from None
        return self, connection

    @staticmethod
    def _target(ctx: CallContext) -> ExternalURL:
        auth = ctx.http.auth
        if not isinstance(auth, DatabaseAuth):
            raise ConfigurationError("the sql connection was not opened", code="not_opened")
        return auth.target

    @staticmethod
    def _timeout(ctx: CallContext) -> float:
        return float(ctx.config.get("timeout_seconds") or 30)

    async def test_call(self, ctx: CallContext) -> dict[str, Any]:
        try:
            return await probe(self._target(ctx), timeout=self._timeout(ctx))
        except ExternalDatabaseError as exc:
            raise connector_error(exc) from None

    async def read_rows(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        after = input.get("after")
        try:
            rows = await read_rows(
                self._target(ctx),
                str(input["query"]),
                cursor_column=str(input["cursor_column"]),
                id_column=str(input["id_column"]),
                after=None if after is None else (after[0], after[1]),
                limit=int(input["limit"]),
                timeout=self._timeout(ctx),
            )
        except ExternalDatabaseError as exc:
            raise connector_error(exc) from None
        return OperationResult(data={"rows": rows})
