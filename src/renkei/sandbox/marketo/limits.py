"""Marketo's three call limits: concurrency (615), a rolling rate window (606) and a
daily quota (607). Calls answering a response-level error count against neither the
window nor the quota (Error Codes page), so only successful calls are recorded."""

from __future__ import annotations

from renkei.clock import Clock
from renkei.sandbox._common import DailyQuota, SlidingWindow, ViolationKind
from renkei.sandbox.marketo.config import MarketoSandboxConfig
from renkei.sandbox.marketo.errors import MarketoError, message


class MarketoLimits:
    def __init__(self, config: MarketoSandboxConfig) -> None:
        self.window = SlidingWindow(config.rate_limit_calls, config.rate_limit_window_seconds)
        self.quota = DailyQuota(config.daily_quota, config.quota_timezone)
        self.max_concurrent = config.max_concurrent
        self.in_flight = 0

    def refusal(self, clock: Clock) -> tuple[ViolationKind, MarketoError] | None:
        if self.in_flight >= self.max_concurrent:
            return ViolationKind.CONCURRENCY, MarketoError("615")
        if self.window.is_full(clock.time()):
            seconds = f"{self.window.seconds:g}"
            text = message("606", self.window.limit, seconds)
            return ViolationKind.RATE_LIMIT, MarketoError("606", text)
        if self.quota.is_exhausted(clock.now()):
            return ViolationKind.DAILY_QUOTA, MarketoError("607")
        return None

    def count_success(self, clock: Clock) -> None:
        self.window.add(clock.time())
        self.quota.add(clock.now())
