"""What an attempt means for its delivery: :func:`renkei.delivery.outcome.classify` says
success / retry (not before N s) / disable; the retry schedule says whether attempts are
left and the earliest next one. The wait is ``max(scheduled delay, not-before)``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from renkei.backoff import Backoff
from renkei.delivery.client import AttemptResult
from renkei.delivery.outcome import OutcomeKind
from renkei.delivery.outcome import classify as classify_attempt
from renkei.delivery.transport import Response
from renkei.settings import Settings

__all__ = ["Verdict", "classify"]


@dataclass(frozen=True)
class Verdict:
    success: bool
    retry_at: datetime | None
    """When to try again; None with success=False means exhausted (or disabled)."""
    disable: bool
    reason: str


def classify(
    response: Response, attempts: int, settings: Settings, schedule: Backoff, now: datetime
) -> Verdict:
    result = response.result or AttemptResult(
        url="", request_headers={}, status=response.status, error=response.error
    )
    outcome = classify_attempt(
        result,
        now=now,
        max_retry_after=settings.max_retry_after_seconds,
        overload_penalty=settings.overload_penalty_seconds,
    )
    if outcome.kind is OutcomeKind.SUCCESS:
        return Verdict(True, None, False, outcome.reason)
    if outcome.kind is OutcomeKind.DISABLE:
        return Verdict(False, None, True, outcome.reason)
    delay = schedule.delay(attempts, outcome.retry_not_before_seconds)
    if delay is None:
        return Verdict(False, None, False, outcome.reason)
    return Verdict(False, now + timedelta(seconds=delay), False, outcome.reason)
