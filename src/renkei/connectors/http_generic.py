"""The generic HTTP connector: reach a tool the catalog lacks (Amplitude, OneSignal, an
in-house points system) by configuration alone.

The connection's config describes one request, with Liquid templates (the flows' template
language) rendered against ``{"input": <operation input>, "now": <ISO time>}``::

    method: POST                                   # template
    url: "https://points.example.com/v1/users/{{ input.user_id | url_encode }}/credits"
    headers: {"Idempotency-Key": "{{ input.event_id }}"}
    body: '{"points": {{ input.points | json }}, "reason": "{{ input.reason }}"}'
    body_format: json                              # or form
    auth: {type: bearer}                           # none|api_key|bearer|basic|
                                                   # oauth2_client_credentials|oauth2_refresh_token
    pagination: {type: cursor, cursor_path: meta.next_cursor, param: cursor}
    records_path: data                             # where a read finds its records
    retry_on: [408, 425, 429, 500, 502, 503, 504]  # statuses retried with backoff
    idempotent: true                               # retry 5xx of a POST too (default by method)
    rate_limit: {calls: 10, per_seconds: 1, concurrency: 2}

Secrets (``api_key``, ``token``, ``password``, ``client_secret``, ``refresh_token``) are
credentials, never config; the ``auth`` block only says how to use them.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import httpx

from renkei.clock import Clock
from renkei.connectors._vendor import NextLinkPaginator, dig, run_chunks
from renkei.connectors.auth import (
    APIKeyAuth,
    Auth,
    BasicAuth,
    BearerAuth,
    ClientCredentialsAuth,
    NoAuth,
    RefreshTokenAuth,
)
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from renkei.connectors.pagination import (
    CursorPaginator,
    LinkHeaderPaginator,
    OffsetPaginator,
    PageTokenPaginator,
    Paginator,
    paginate,
)
from renkei.connectors.spec import (
    CallContext,
    Connection,
    Connector,
    ConnectorSpec,
    Field,
    OpenOptions,
    Operation,
    OperationResult,
    RateLimitSpec,
    RecordOk,
    RecordResult,
)
from renkei.egress.retry_after import parse_retry_after
from renkei.expr.errors import TemplateError
from renkei.expr.templates import Template, compile_template

__all__ = ["AUTH_TYPES", "DEFAULT_RETRY_ON", "PAGINATION_TYPES", "HttpConnector"]

DEFAULT_RETRY_ON = (408, 425, 429, 500, 502, 503, 504)
AUTH_TYPES = (
    "none",
    "api_key",
    "bearer",
    "basic",
    "oauth2_client_credentials",
    "oauth2_refresh_token",
)
PAGINATION_TYPES = ("none", "cursor", "page_token", "offset", "link_header", "next_link")
BATCH_SIZE = 100
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

READ_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "params": {"type": "object", "description": "query parameters of the first page"},
        "max_pages": {"type": "integer", "minimum": 1},
    },
}


@dataclass(frozen=True)
class _Templates:
    method: Template
    url: Template
    headers: tuple[tuple[str, Template], ...]
    body: Template | None
    body_format: str


class HttpConnector(Connector):
    spec = ConnectorSpec(
        name="http",
        title="HTTP request (generic)",
        docs_url="https://github.com/renkei/renkei/blob/main/docs/connectors/http.md",
        credentials=(
            Field("api_key", "for auth type api_key", secret=True, required=False),
            Field("token", "for auth type bearer", secret=True, required=False),
            Field("username", "for auth type basic", required=False),
            Field("password", "for auth type basic", secret=True, required=False),
            Field("client_id", "for the OAuth2 auth types", required=False),
            Field("client_secret", "for the OAuth2 auth types", secret=True, required=False),
            Field(
                "refresh_token", "for auth type oauth2_refresh_token", secret=True, required=False
            ),
        ),
        config=(
            Field("url", "Request URL (Liquid template)"),
            Field("method", "HTTP method (Liquid template)", required=False, default="POST"),
            Field("headers", "Header name → value (Liquid templates)", required=False),
            Field("body", "Request body (Liquid template)", required=False),
            Field("body_format", "json or form", required=False, default="json"),
            Field(
                "auth",
                "How the credentials are sent: {type: none|api_key|bearer|basic|"
                "oauth2_client_credentials|oauth2_refresh_token, name, location, prefix, "
                "token_url, scope, style}",
                required=False,
                default={"type": "none"},
            ),
            Field(
                "pagination",
                "How reads reach the next page: {type: none|cursor|page_token|offset|"
                "link_header|next_link, ...}",
                required=False,
                default={"type": "none"},
            ),
            Field("records_path", "Dotted path to the records of a read page", required=False),
            Field(
                "retry_on",
                "HTTP statuses retried with backoff",
                required=False,
                default=list(DEFAULT_RETRY_ON),
            ),
            Field(
                "idempotent",
                "Whether a failed request may be repeated (default: true for GET/PUT/DELETE)",
                required=False,
            ),
            Field("rate_limit", "{calls, per_seconds, concurrency}", required=False),
        ),
        operations=(
            Operation(
                "request",
                "Render the templates with the input and send one request",
                {"type": "object"},
            ),
            Operation(
                "request_each",
                "One request per record, with an outcome per record",
                {"type": "object"},
                batchable=True,
                max_batch_size=BATCH_SIZE,
            ),
            Operation(
                "read",
                "Send the request and follow the pagination, collecting records_path",
                READ_INPUT,
                kind="read",
            ),
        ),
    )
    limits_notes: ClassVar[tuple[str, ...]] = (
        "whatever the connection's rate_limit says (none by default)",
    )

    _retry_on: frozenset[int] = frozenset(DEFAULT_RETRY_ON)

    def base_url(self, config: Mapping[str, Any]) -> str:
        return ""

    def auth(self, connection: Connection, clock: Clock) -> Auth:
        return _auth(connection, clock)

    def prepare(self, connection: Connection, options: OpenOptions) -> tuple[Connector, Connection]:
        """Compile the templates, so a syntax error is a :class:`ConfigurationError` here,
        not at the first call."""
        config = self.spec.check_settings(connection.credentials, connection.config)
        _compile(config)
        bound = copy.copy(self)
        bound._retry_on = _statuses(config.get("retry_on"))
        _paginator(config)  # validate early
        if options.rate_limiter is None and config.get("rate_limit"):
            options.rate_limiter = _rate_limit(config["rate_limit"]).in_memory(options.clock)
        return bound, connection

    def classify(self, response: httpx.Response, now: datetime) -> ConnectorError | None:
        status = response.status_code
        if status < 300 or status == 401:
            return None  # success, or the default re-authentication path
        where = f"HTTP {status} from {response.request.method} {response.request.url.host}"
        if status in self._retry_on:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
            kind = RateLimitedError if status == 429 else RetryableError
            return kind(where, retry_after=retry_after, code=str(status), status_code=status)
        return PermanentError(where, code=str(status), status_code=status)

    # --- operations --------------------------------------------------------------------

    async def request(self, input: Any, ctx: CallContext) -> OperationResult:
        response = await self._send(input, ctx, operation="request")
        return OperationResult(
            records=(RecordOk(0, status=str(response.status_code)),), data=_answer(response)
        )

    async def request_each(self, records: Sequence[Any], ctx: CallContext) -> OperationResult:
        answers: dict[int, Any] = {}

        async def send(chunk: Sequence[int]) -> dict[int, RecordResult]:
            index = chunk[0]
            response = await self._send(records[index], ctx, operation="request_each")
            answers[index] = _answer(response)
            return {index: RecordOk(index, status=str(response.status_code))}

        results = await run_chunks([[i] for i in range(len(records))], send)
        return OperationResult(
            records=tuple(results[i] for i in sorted(results)),
            data=[answers.get(i) for i in range(len(records))],
        )

    async def read(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        paginator = _paginator(ctx.config)
        records_path = ctx.config.get("records_path") or ""
        records: list[Any] = []
        pages = 0

        async def send(params: dict[str, Any]) -> httpx.Response:
            return await self._send(input, ctx, operation="read", params=params)

        source = paginate(
            send,
            paginator or _SinglePage(),
            dict(input.get("params") or {}),
            max_pages=input.get("max_pages"),
        )
        async for body in source:
            pages += 1
            found = dig(body, records_path)
            if isinstance(found, list):
                records += found
            elif found is not None:
                records.append(found)
        return OperationResult(data={"records": records, "pages": pages})

    async def _send(
        self,
        input: Any,
        ctx: CallContext,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        templates = _compile(ctx.config)
        context = {"input": input, "now": ctx.clock.now().isoformat()}
        method = _text(templates.method, context).strip().upper()
        url = _text(templates.url, context).strip()
        if not url.startswith(("http://", "https://")):
            raise PermanentError(f"the url template rendered {url[:80]!r}", code="invalid_url")
        headers = {name: _text(t, context) for name, t in templates.headers}
        body = _render(templates.body, context) if templates.body is not None else None
        idempotent = ctx.config.get("idempotent")
        if idempotent is None:
            idempotent = method in _IDEMPOTENT_METHODS
        json_body = body if templates.body_format == "json" and body is not None else None
        form = body if templates.body_format == "form" else None
        if form is not None and not isinstance(form, Mapping):
            raise PermanentError("a form body must render to a JSON object", code="invalid_body")
        return await ctx.http.request(
            method,
            url,
            operation=operation,
            params=params or None,
            json=json_body,
            data=form,
            headers=headers,
            idempotent=bool(idempotent),
        )


class _SinglePage(Paginator):
    def update_state(self, body: Any, response: httpx.Response) -> None:
        self.has_more = False

    def update_request(self, params: dict[str, Any]) -> None:
        return None


def _compile(config: Mapping[str, Any]) -> _Templates:
    headers = config.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise ConfigurationError("http headers must be a mapping", code="invalid_settings")
    return _compiled(
        str(config.get("method") or "POST"),
        str(config["url"]),
        tuple((str(name), str(value)) for name, value in headers.items()),
        None if config.get("body") is None else str(config["body"]),
        str(config.get("body_format") or "json"),
    )


@functools.lru_cache(maxsize=256)
def _compiled(
    method: str,
    url: str,
    headers: tuple[tuple[str, str], ...],
    body: str | None,
    body_format: str,
) -> _Templates:
    """The connection's templates, compiled once per distinct source."""
    if body_format not in ("json", "form"):
        raise ConfigurationError("http body_format must be json or form", code="invalid_settings")
    try:
        return _Templates(
            method=compile_template(method, "text"),
            url=compile_template(url, "text"),
            headers=tuple((name, compile_template(value, "text")) for name, value in headers),
            body=compile_template(body, "json") if body is not None else None,
            body_format=body_format,
        )
    except TemplateError as exc:
        raise ConfigurationError(f"http template: {exc}", code="invalid_template") from exc


def _text(template: Template, context: Mapping[str, object]) -> str:
    return str(_render(template, context))


def _render(template: Template, context: Mapping[str, object]) -> Any:
    try:
        return template.render(context)
    except TemplateError as exc:
        raise PermanentError(f"http template: {exc}", code="template_error") from exc


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body: Any = response.json() if response.content else None
    except ValueError:
        body = response.text[:10_000]
    return {"status": response.status_code, "body": body}


def _statuses(value: Any) -> frozenset[int]:
    if value is None:
        return frozenset(DEFAULT_RETRY_ON)
    if not isinstance(value, list | tuple) or not all(
        isinstance(s, int) and 400 <= s <= 599 for s in value
    ):
        raise ConfigurationError(
            "http retry_on must be a list of 4xx/5xx statuses", code="invalid_settings"
        )
    return frozenset(value)


def _rate_limit(value: Any) -> RateLimitSpec:
    if not isinstance(value, Mapping):
        raise ConfigurationError("http rate_limit must be a mapping", code="invalid_settings")
    try:
        return RateLimitSpec(
            calls=int(value["calls"]) if value.get("calls") is not None else None,
            per_seconds=float(value.get("per_seconds", 1.0)),
            concurrency=int(value["concurrency"]) if value.get("concurrency") else None,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"http rate_limit: {exc}", code="invalid_settings") from exc


def _paginator(config: Mapping[str, Any]) -> Paginator | None:
    """A fresh paginator for one read, from ``config["pagination"]``."""
    raw = config.get("pagination") or {"type": "none"}
    if not isinstance(raw, Mapping) or raw.get("type", "none") not in PAGINATION_TYPES:
        raise ConfigurationError(
            f"http pagination type must be one of {', '.join(PAGINATION_TYPES)}",
            code="invalid_settings",
        )
    kind = raw.get("type", "none")
    options = {k: v for k, v in raw.items() if k != "type"}
    try:
        if kind == "cursor":
            return CursorPaginator(**options)
        if kind == "page_token":
            return PageTokenPaginator(**options)
        if kind == "offset":
            return OffsetPaginator(**options)
        if kind == "link_header":
            return LinkHeaderPaginator(**options)
        if kind == "next_link":
            return NextLinkPaginator(**options)
    except TypeError as exc:
        raise ConfigurationError(f"http pagination: {exc}", code="invalid_settings") from exc
    return None


def _auth(connection: Connection, clock: Clock) -> Auth:
    raw = connection.config.get("auth") or {"type": "none"}
    kind = raw.get("type", "none") if isinstance(raw, Mapping) else None
    if kind not in AUTH_TYPES:
        raise ConfigurationError(
            f"http auth type must be one of {', '.join(AUTH_TYPES)}", code="invalid_settings"
        )
    assert isinstance(raw, Mapping)
    creds = connection.credentials

    def need(*names: str) -> list[str]:
        missing = [n for n in names if not creds.get(n)]
        if missing:
            raise ConfigurationError(
                f"http auth {kind} needs the credential(s) {', '.join(missing)}",
                code="invalid_settings",
            )
        return [creds[n] for n in names]

    if kind == "api_key":
        (key,) = need("api_key")
        return APIKeyAuth(
            key,
            name=str(raw.get("name", "X-API-Key")),
            location="query" if raw.get("location") == "query" else "header",
            prefix=str(raw.get("prefix", "")),
        )
    if kind == "bearer":
        (token,) = need("token")
        return BearerAuth(token)
    if kind == "basic":
        username, password = need("username", "password")
        return BasicAuth(username, password)
    if kind in ("oauth2_client_credentials", "oauth2_refresh_token"):
        if not raw.get("token_url"):
            raise ConfigurationError(f"http auth {kind} needs a token_url", code="invalid_settings")
        style = raw.get("style", "form")
        if style not in ("form", "basic", "query"):
            raise ConfigurationError(
                "http auth style: form, basic or query", code="invalid_settings"
            )
        client_id, client_secret = need("client_id", "client_secret")
        if kind == "oauth2_client_credentials":
            return ClientCredentialsAuth(
                str(raw["token_url"]),
                client_id,
                client_secret,
                style=style,
                scope=raw.get("scope"),
                clock=clock,
            )
        (refresh,) = need("refresh_token")
        return RefreshTokenAuth(
            str(raw["token_url"]),
            client_id,
            client_secret,
            refresh,
            on_rotate=connection.rotation_callback("refresh_token"),
            style=style,
            clock=clock,
        )
    return NoAuth()
