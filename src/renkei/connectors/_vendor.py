"""Pieces the catalog connectors (Braze, Mailchimp, Klaviyo, Slack, generic HTTP) share.

- :class:`Window` names one documented rate window, for limiters and for the catalog.
- :class:`AllOf` holds a slot of every limiter it wraps (a window and the vendor's headers).
- :class:`AdvertisedWindow` obeys a vendor's own ``Remaining``/``Reset`` headers.
- :class:`SlidingWindow` is a window that refuses instead of waiting, for windows kept
  outside :class:`ConnectorHTTP` (Klaviyo's burst windows).
- :class:`NextLinkPaginator` follows a next-page URL found in the body (JSON:API
  ``links.next``).
- :func:`run_chunks` sends a batch as several requests and turns a failed request into
  per-record errors instead of losing the requests that went through.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from renkei.clock import Clock
from renkei.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    PermanentError,
    QuotaExhaustedError,
    RateLimitedError,
    RecordError,
    RetryableError,
)
from renkei.connectors.limits import InMemoryRateLimiter, RateLimiter
from renkei.connectors.pagination import Paginator
from renkei.connectors.spec import RecordResult

__all__ = [
    "AdvertisedWindow",
    "AllOf",
    "NextLinkPaginator",
    "SlidingWindow",
    "Window",
    "dig",
    "run_chunks",
]


@dataclass(frozen=True)
class Window:
    """``calls`` per ``per_seconds``, as the vendor documents it (``name``: "burst")."""

    calls: int
    per_seconds: float
    name: str = ""

    def limiter(self, clock: Clock) -> InMemoryRateLimiter:
        return InMemoryRateLimiter(self.calls, self.per_seconds, clock=clock)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "calls": self.calls, "per_seconds": self.per_seconds}


class AllOf:
    """A limiter that takes a slot from each of ``limiters`` (None entries are skipped)."""

    def __init__(self, *limiters: RateLimiter | None) -> None:
        self._limiters = [limiter for limiter in limiters if limiter is not None]
        self._held: dict[str, list[tuple[RateLimiter, str]]] = {}
        self._ids = itertools.count(1)

    async def acquire(self) -> str:
        held: list[tuple[RateLimiter, str]] = []
        try:
            for limiter in self._limiters:
                held.append((limiter, await limiter.acquire()))
        except BaseException:
            for limiter, lease in reversed(held):
                await limiter.release(lease)
            raise
        lease = str(next(self._ids))
        self._held[lease] = held
        return lease

    async def release(self, lease: str) -> None:
        for limiter, inner in reversed(self._held.pop(lease, [])):
            await limiter.release(inner)


class AdvertisedWindow:
    """Refuses a call while the vendor says its window has no call left, until it resets.

    :meth:`observe` takes what the last response advertised; between responses each
    acquisition spends one of the advertised remaining calls, so concurrent callers don't
    all rush through on one stale count. A refusal is a :class:`RateLimitedError` with
    the time to the reset: raised inside :meth:`ConnectorHTTP.request`, it is waited out in
    process when short (the backoff's ``max_wait``) and parks the job otherwise.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._remaining: int | None = None
        self._resets_at: float | None = None

    def observe(self, remaining: int | None, resets_at: float | None) -> None:
        if remaining is None or resets_at is None:
            return
        self._remaining = remaining
        self._resets_at = resets_at

    async def acquire(self) -> str:
        now = self._clock.time()
        if self._resets_at is not None and now >= self._resets_at:
            self._remaining = self._resets_at = None
        if self._remaining is not None:
            if self._remaining <= 0:
                assert self._resets_at is not None
                raise RateLimitedError(
                    "the vendor's rate-limit window is spent",
                    retry_after=self._resets_at - now,
                    code="rate_limit_window",
                )
            self._remaining -= 1
        return "advertised"

    async def release(self, lease: str) -> None:
        return None


class SlidingWindow:
    """At most ``calls`` per ``per_seconds``; :meth:`take` never waits: it takes a slot or
    raises :class:`RateLimitedError` with the time until one frees up."""

    def __init__(self, calls: int, per_seconds: float, clock: Clock) -> None:
        self.calls = calls
        self.per_seconds = per_seconds
        self._clock = clock
        self._log: deque[float] = deque()

    def take(self) -> None:
        now = self._clock.time()
        while self._log and self._log[0] <= now - self.per_seconds:
            self._log.popleft()
        if len(self._log) >= self.calls:
            raise RateLimitedError(
                f"{self.calls} calls per {self.per_seconds:g} s taken",
                retry_after=self._log[0] + self.per_seconds - now,
                code="rate_limit_window",
            )
        self._log.append(now)


def dig(body: Any, path: str | None) -> Any:
    """The value at a dotted ``path`` in ``body`` (None when absent; "" is the body itself)."""
    if path is None:
        return None
    if path == "":
        return body
    for key in path.split("."):
        if isinstance(body, list) and key.isdigit():
            index = int(key)
            body = body[index] if index < len(body) else None
        elif isinstance(body, dict):
            body = body.get(key)
        else:
            return None
    return body


class NextLinkPaginator(Paginator):
    """The body names the next page's full URL (JSON:API ``links.next``); its query string
    becomes the next request's parameters. No link means the last page."""

    def __init__(self, path: str = "links.next") -> None:
        self.path = path
        self.next_url: str | None = None

    def update_state(self, body: Any, response: httpx.Response) -> None:
        link = dig(body, self.path)
        self.next_url = link if isinstance(link, str) and link else None
        self.has_more = self.next_url is not None

    def update_request(self, params: dict[str, Any]) -> None:
        if self.next_url is None:
            return
        params.clear()
        params.update(parse_qsl(urlsplit(self.next_url).query, keep_blank_values=True))


Send = Callable[[Sequence[int]], Awaitable[Mapping[int, RecordResult]]]


async def run_chunks(chunks: Sequence[Sequence[int]], send: Send) -> dict[int, RecordResult]:
    """Send ``chunks`` (lists of record indices) one request each, in order.

    A request the vendor refuses for good (HTTP 400 for the whole payload) fails its own
    records and the rest still go. A transient failure that outlived the in-process retries
    raises when nothing was sent yet (the whole call is safely retried), otherwise marks
    this and every later record ``retryable`` so only they are retried. A refused
    credential always raises: a human has to act.
    """
    results: dict[int, RecordResult] = {}
    for position, chunk in enumerate(chunks):
        try:
            results.update(await send(chunk))
        except ConfigurationError:
            raise
        except PermanentError as exc:
            for index in chunk:
                results[index] = RecordError(index, exc.code or "rejected", exc.message)
        except (RetryableError, QuotaExhaustedError) as exc:
            if position == 0:
                raise
            rest = [index for later in chunks[position:] for index in later]
            for index in rest:
                results[index] = RecordError(
                    index, exc.code or "not_sent", f"not sent: {exc.message}", retryable=True
                )
            break
        except ConnectorError:
            raise
    return results
