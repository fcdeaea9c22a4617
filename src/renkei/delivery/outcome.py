"""What one attempt means for its delivery (DESIGN §6).

2xx is success; 3xx is a failure (redirects are not followed); 410 Gone disables the
endpoint; 429/503 with ``Retry-After`` wait that long (capped); a timeout, or 429 without
``Retry-After``, waits at least an overload penalty; everything else retries by schedule.
The queue applies the schedule: it waits ``max(next scheduled delay, retry_not_before_seconds)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from renkei.delivery.client import AttemptResult
from renkei.egress.failures import ErrorKind
from renkei.egress.retry_after import parse_retry_after

DEFAULT_MAX_RETRY_AFTER = 3600.0
DEFAULT_OVERLOAD_PENALTY = 60.0


class OutcomeKind(StrEnum):
    SUCCESS = "success"
    RETRY = "retry"
    DISABLE = "disable"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    retry_not_before_seconds: float | None  # None: the retry schedule alone decides
    reason: str


def classify(
    result: AttemptResult,
    *,
    now: datetime,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    overload_penalty: float = DEFAULT_OVERLOAD_PENALTY,
) -> Outcome:
    """The outcome of ``result``; ``now`` (from a Clock) resolves HTTP-date Retry-After."""
    status = result.status
    if status is None:
        if result.error_kind is ErrorKind.TIMEOUT:
            return Outcome(OutcomeKind.RETRY, overload_penalty, result.error or "timeout")
        return Outcome(OutcomeKind.RETRY, None, result.error or "no response")
    if 200 <= status < 300:
        return Outcome(OutcomeKind.SUCCESS, None, f"HTTP {status}")
    if 300 <= status < 400:
        return Outcome(OutcomeKind.RETRY, None, f"HTTP {status}: redirects are not followed")
    if status == 410:
        return Outcome(OutcomeKind.DISABLE, None, "HTTP 410 Gone: the endpoint is disabled")
    if status in (429, 503):
        header = result.response_headers.get("retry-after")
        wait = parse_retry_after(header, now) if header is not None else None
        if wait is not None:
            wait = min(wait, max_retry_after)
            return Outcome(OutcomeKind.RETRY, wait, f"HTTP {status}, Retry-After {wait:g} s")
        if status == 429:
            return Outcome(OutcomeKind.RETRY, overload_penalty, "HTTP 429 without Retry-After")
    return Outcome(OutcomeKind.RETRY, None, f"HTTP {status}")
