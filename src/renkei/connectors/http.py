"""The one way a connector sends an HTTP call.

:class:`ConnectorHTTP` builds the request, applies the connection's auth, takes a daily-quota
unit and a rate-limit slot, sends through an ``httpx.AsyncClient`` whose wire is the egress
session (``egress/transport.py``: aiohttp, the SSRF policy at connect time; tests and
sandboxes replace the transport), logs request and response with secrets redacted, records
metrics (and, on the runtime's connections, counts each attempt's outcome for the
failure-rate alert: ``call_counts.py``), turns every failure into the
:mod:`renkei.connectors.errors` taxonomy, re-authenticates once when the vendor rejects a
token, and retries retryable failures with :class:`Backoff`.

Vendors that report errors inside a 200 (Marketo's ``{"success": false, "errors": [...]}``)
pass a ``classify`` hook; it sees every response first, and :func:`classify_response` (the
status-code mapping) handles what it returns None for or cannot parse.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import structlog

from renkei.clock import Clock, SystemClock
from renkei.connectors.auth import Auth, NoAuth
from renkei.connectors.call_counts import CallCounts
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    QuotaExhaustedError,
    RateLimitedError,
    ReauthenticateError,
    RetryableError,
)
from renkei.connectors.limits import DailyQuota, RateLimiter, hold
from renkei.connectors.metrics import ConnectorMetrics, default_metrics
from renkei.connectors.retry import Backoff, retry
from renkei.egress.errors import TargetRefused
from renkei.egress.retry_after import parse_retry_after
from renkei.egress.ssrf import TargetPolicy
from renkei.egress.transport import TARGET_POLICY, EgressPools
from renkei.observability import tracing
from renkei.security.redaction import REDACTED, is_secret_name

__all__ = [
    "REDACTED",
    "Classifier",
    "ConnectorHTTP",
    "classify_response",
    "is_secret_name",
    "redact_headers",
    "redact_url",
]

Classifier = Callable[[httpx.Response, datetime], ConnectorError | None]

# Failures where the request provably never reached the vendor: safe to retry even a
# non-idempotent write.
_NEVER_SENT = "connect"


def redact_url(url: httpx.URL | str) -> str:
    """``url`` without userinfo and with secret query parameters' values replaced."""
    url = httpx.URL(url)
    params = [(k, REDACTED if is_secret_name(k) else v) for k, v in url.params.multi_items()]
    bare = str(url.copy_with(username=None, password=None, query=None, fragment=None))
    return f"{bare}?{urlencode(params, safe='[]')}" if params else bare


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: REDACTED if is_secret_name(k) else v for k, v in headers.items()}


class _RedactHttpxURLs(logging.Filter):
    """httpx logs every request's full URL at INFO (``HTTP Request: GET https://...``); an
    OAuth2 token request in Marketo's query style carries the client secret there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, httpx.URL) for arg in record.args
        ):
            record.args = tuple(
                redact_url(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


def _install_httpx_log_filter() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactHttpxURLs) for f in logger.filters):
        logger.addFilter(_RedactHttpxURLs())


_install_httpx_log_filter()


def classify_response(response: httpx.Response, now: datetime) -> ConnectorError | None:
    """The default status mapping: 2xx → None; 401 → reauthenticate; 429 → rate limited;
    408 and 5xx → retryable (both honouring Retry-After); any other status → permanent."""
    status = response.status_code
    if status < 300:
        return None
    request = response.request
    message = f"HTTP {status} from {request.method} {redact_url(request.url)}"
    if detail := _vendor_message(response):
        message += f": {detail}"
    code = str(status)
    if status == 401:
        return ReauthenticateError(message, code=code, status_code=status)
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
    if status == 429:
        return RateLimitedError(message, retry_after=retry_after, code=code, status_code=status)
    if status == 408 or status >= 500:
        return RetryableError(message, retry_after=retry_after, code=code, status_code=status)
    return PermanentError(message, code=code, status_code=status)


class ConnectorHTTP:
    def __init__(
        self,
        base_url: str,
        *,
        connector: str,
        connection: str,
        auth: Auth | None = None,
        rate_limiter: RateLimiter | None = None,
        quota: DailyQuota | None = None,
        classify: Classifier | None = None,
        backoff: Backoff | None = None,
        clock: Clock | None = None,
        metrics: ConnectorMetrics | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
        pools: Mapping[str, RateLimiter] | None = None,
        policy: TargetPolicy | None = None,
    ) -> None:
        self.connector = connector
        self.connection = connection
        self._auth = auth or NoAuth()
        self._limiter = rate_limiter
        self._pools = dict(pools or {})
        self._quota = quota
        self._classify = classify
        self._backoff = backoff or Backoff()
        self._clock = clock or SystemClock()
        self._metrics = metrics or default_metrics()
        self._rng = rng
        self._policy = policy
        # Where each attempt's outcome is counted, and under which connection id (set by
        # the runtime: a client built by hand counts nothing).
        self._counts: CallCounts | None = None
        self._counted_as = ""
        self._client = httpx.AsyncClient(
            base_url=base_url,
            transport=transport or EgressPools(shared=False),
            timeout=timeout,
            headers=headers,
            follow_redirects=False,
        )
        self._log = structlog.get_logger("renkei.connectors").bind(
            connector=connector, connection=connection
        )

    @property
    def auth(self) -> Auth:
        """The connection's auth strategy (a connector without HTTP, ``sql``, keeps its
        credentials there too)."""
        return self._auth

    async def request(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        pool: str | None = None,
        limited: bool = True,
    ) -> httpx.Response:
        """Send one logical call and return its successful response, or raise a
        :class:`ConnectorError`. ``idempotent=False`` retries only failures that provably
        never reached the vendor (connection refused, 429). ``pool`` names the rate-limit
        pool the call counts against instead of the connection's main window;
        ``limited=False`` is for endpoints the vendor exempts from every limit (no window,
        no quota)."""
        if pool is not None and pool not in self._pools:
            raise ValueError(f"{self.connector} has no rate-limit pool {pool!r}")
        limiter = (self._pools[pool] if pool is not None else self._limiter) if limited else None
        quota = self._quota if limited else None

        def build() -> httpx.Request:
            return self._client.build_request(
                method, url, params=params, json=json, data=data, headers=headers
            )

        def retry_if(exc: RetryableError) -> bool:
            return idempotent or exc.code == _NEVER_SENT or isinstance(exc, RateLimitedError)

        def on_retry(exc: RetryableError, failures: int, delay: float) -> None:
            self._metrics.retries.labels(*self._labels(operation)).inc()
            self._log.warning(
                "connector.retry",
                operation=operation,
                failures=failures,
                delay_s=round(delay, 3),
                code=exc.code,
                error=exc.message,
            )

        counts = self._counts

        def attempt() -> Awaitable[httpx.Response]:
            if counts is None:
                return self._call(build, operation, limiter, quota)
            return self._counted_call(counts, build, operation, limiter, quota)

        try:
            return await retry(
                attempt,
                backoff=self._backoff,
                clock=self._clock,
                rng=self._rng,
                retry_if=retry_if,
                on_retry=on_retry,
            )
        except ConnectorError as exc:
            self._log.warning(
                "connector.failed",
                operation=operation,
                error_class=type(exc).__name__,
                code=exc.code,
                error=exc.message,
            )
            raise

    def use_pools(self, pools: Mapping[str, RateLimiter]) -> None:
        """Replace the rate-limit pools (the runtime swaps in database-backed ones)."""
        self._pools = dict(pools)

    def count_calls(self, counts: CallCounts, connection_id: str) -> None:
        """Count every attempt's outcome in ``counts`` (for the failure-rate alert)."""
        self._counts = counts
        self._counted_as = connection_id

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> ConnectorHTTP:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _counted_call(
        self,
        counts: CallCounts,
        build: Callable[[], httpx.Request],
        operation: str,
        limiter: RateLimiter | None,
        quota: DailyQuota | None,
    ) -> httpx.Response:
        """:meth:`_call`, its outcome counted: one attempt (with its re-authentication, if
        any) is one call, whether it is retried afterwards or not."""
        try:
            response = await self._call(build, operation, limiter, quota)
        except ConnectorError as exc:
            counts.error(self._counted_as, exc)
            raise
        counts.succeeded(self._counted_as)
        return response

    async def _call(
        self,
        build: Callable[[], httpx.Request],
        operation: str,
        limiter: RateLimiter | None,
        quota: DailyQuota | None,
    ) -> httpx.Response:
        """One attempt, plus one more with fresh credentials if the vendor rejects them."""
        try:
            request = build()
            try:
                return await self._attempt(request, operation, limiter, quota)
            except ReauthenticateError as exc:
                if not await self._auth.invalidate(request):
                    raise ConfigurationError(
                        f"the vendor refused the credentials ({exc.message})",
                        code=exc.code,
                        status_code=exc.status_code,
                    ) from exc
                self._log.info("connector.reauthenticate", operation=operation, code=exc.code)
            try:
                return await self._attempt(build(), operation, limiter, quota)
            except ReauthenticateError as exc:
                raise ConfigurationError(
                    f"the vendor refused freshly issued credentials ({exc.message})",
                    code=exc.code,
                    status_code=exc.status_code,
                ) from exc
        except ConnectorError as exc:
            self._scrub_error(exc)
            raise

    async def _attempt(
        self,
        request: httpx.Request,
        operation: str,
        limiter: RateLimiter | None,
        quota: DailyQuota | None,
    ) -> httpx.Response:
        """One call, counted by outcome and, with tracing on, a span whose context the
        vendor receives in ``traceparent``."""
        outcomes = self._metrics.outcomes
        if not tracing.ENABLED:
            try:
                response = await self._attempt_once(request, operation, limiter, quota)
            except ConnectorError as exc:
                outcomes.labels(*self._labels(operation), _outcome(exc)).inc()
                raise
            outcomes.labels(*self._labels(operation), "ok").inc()
            return response
        attributes = {
            "renkei.connector": self.connector,
            "renkei.connection.id": self.connection,
            "renkei.connector.operation": operation,
            "http.request.method": request.method,
        }
        with tracing.span("renkei.connector.call", attributes=attributes) as current:
            if (parent := tracing.traceparent()) is not None:
                request.headers["traceparent"] = parent
            try:
                response = await self._attempt_once(request, operation, limiter, quota)
            except ConnectorError as exc:
                outcomes.labels(*self._labels(operation), _outcome(exc)).inc()
                tracing.set_outcome(current, _outcome(exc), exc.code or type(exc).__name__)
                raise
            outcomes.labels(*self._labels(operation), "ok").inc()
            current.set_attribute("http.response.status_code", response.status_code)
            tracing.set_outcome(current, "ok")
            return response

    async def _attempt_once(
        self,
        request: httpx.Request,
        operation: str,
        limiter: RateLimiter | None,
        quota: DailyQuota | None,
    ) -> httpx.Response:
        labels = self._labels(operation)
        await self._auth.apply(request, self._send_token_request)
        # The slot first, then the quota unit: a caller turned away by a full window
        # (and parked by the queue) must not have spent a unit of the day's quota.
        async with hold(limiter):
            if quota is not None:
                try:
                    usage = await quota.consume()
                except QuotaExhaustedError as exc:
                    self._metrics.errors.labels(*labels, exc.code or "quota_exhausted").inc()
                    raise
                self._metrics.quota_used.labels(*labels).inc()
                self._metrics.quota_remaining.labels(self.connector, self.connection).set(
                    usage.remaining
                )
                self._metrics.quota_limit.labels(self.connector, self.connection).set(usage.limit)
            response = await self._send(request, operation)
        now = self._clock.now()
        error = self._classified(response, now)
        if error is None:
            error = classify_response(response, now)
        if error is not None:
            self._metrics.errors.labels(*labels, error.code or type(error).__name__).inc()
            if isinstance(error, QuotaExhaustedError) and quota is not None:
                # The vendor counts calls we didn't see (other integrations share the
                # quota): stop every worker from calling until the reset.
                exhaust = getattr(quota, "exhaust", None)
                if callable(exhaust):
                    await exhaust()
            raise error
        return response

    def _classified(self, response: httpx.Response, now: datetime) -> ConnectorError | None:
        if self._classify is None:
            return None
        try:
            return self._classify(response, now)
        except ValueError:
            # A hook that can't parse the body (an HTML 502 page from a proxy) defers to the
            # status mapping rather than escaping the taxonomy.
            return None

    async def send_token_request(self, request: httpx.Request) -> httpx.Response:
        """A request to a token endpoint (OAuth Connect's code exchange): logged redacted,
        under the egress policy, outside the limits and the retries."""
        return await self._send_token_request(request)

    async def _send_token_request(self, request: httpx.Request) -> httpx.Response:
        # Token endpoints don't count against vendor limits, so no quota or limiter here.
        return await self._send(request, "oauth_token")

    async def _send(self, request: httpx.Request, operation: str) -> httpx.Response:
        labels = self._labels(operation)
        log = self._log.bind(
            operation=operation, method=request.method, url=redact_url(request.url)
        )
        log.debug(
            "connector.request",
            headers=redact_headers(request.headers),
            body_bytes=len(request.content),
        )
        self._metrics.calls.labels(*labels).inc()
        if self._policy is not None:  # checked by the egress transport at connect time
            request.extensions = {**request.extensions, TARGET_POLICY: self._policy}
        started = time.perf_counter()  # latency measurement only; waiting uses the clock
        try:
            response = await self._client.send(request)
        except TargetRefused as exc:
            self._metrics.errors.labels(*labels, "target_refused").inc()
            log.warning("connector.target_refused", error=str(exc))
            raise ConfigurationError(
                f"{redact_url(request.url)}: {exc}", code="target_refused"
            ) from exc
        except httpx.TransportError as exc:
            error = _transport_error(exc, request)
            self._metrics.errors.labels(*labels, error.code or "transport").inc()
            log.warning("connector.transport_error", code=error.code, error=error.message)
            raise error from exc
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.latency.labels(*labels).observe(elapsed)
        log.info(
            "connector.response",
            status=response.status_code,
            duration_ms=round(elapsed * 1000, 1),
            body_bytes=len(response.content),
        )
        return response

    def _labels(self, operation: str) -> tuple[str, str, str]:
        return (self.connector, operation, self.connection)

    def _scrub_error(self, exc: ConnectorError) -> None:
        message = exc.message
        for secret in self._auth.secrets():
            if len(secret) >= 4:
                message = message.replace(secret, REDACTED)
                message = message.replace(quote(secret, safe=""), REDACTED)
        exc.message = message
        exc.args = (message,)


def _outcome(error: ConnectorError) -> str:
    """A bounded outcome label: the error's class (``rate_limited``, ``quota_exhausted``,
    ``retryable``...), never a vendor's own code."""
    name = type(error).__name__.removesuffix("Error")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_") or "error"


def _transport_error(exc: httpx.TransportError, request: httpx.Request) -> ConnectorError:
    """The taxonomy's error for a failure the egress transport classified (``egress/failures.py``,
    as a webhook attempt's): its reason names hosts and ports, never a URL's query."""
    where = f"{request.method} {redact_url(request.url)}"
    reason = f": {exc}" if str(exc) else ""
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return PermanentError(f"invalid request {where}{reason}", code="invalid_request")
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return RetryableError(f"could not connect for {where}{reason}", code=_NEVER_SENT)
    if isinstance(exc, httpx.TimeoutException):
        return RetryableError(f"timed out waiting for {where}{reason}", code="timeout")
    return RetryableError(f"{type(exc).__name__} during {where}{reason}", code="transport")


def _vendor_message(response: httpx.Response, limit: int = 200) -> str | None:
    """A vendor's own error text (HubSpot ``message``, Mailchimp ``detail``, Klaviyo
    ``errors[0].detail``), shortened; it may name fields but never our credentials."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        body = body["errors"][0]
    if not isinstance(body, dict):
        return None
    for key in ("message", "detail", "title", "error"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value[:limit]
    return None
