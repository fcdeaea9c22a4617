"""HubSpot's rate limits (usage guidelines): a rolling 10-second window per app, a
daily count per account, and a per-second limit on the search endpoints instead of the
10-second one. Custom event sends are exempt from both (``x-hubspot-rate-limit-
exemptions`` in the spec). Every admitted request counts, whatever its outcome."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from renkei.clock import Clock
from renkei.sandbox._common import DailyQuota, SlidingWindow, ViolationKind
from renkei.sandbox.hubspot.config import HubSpotSandboxConfig


class Policy(Enum):
    STANDARD = "standard"  # daily + ten-secondly
    SEARCH = "search"  # daily + secondly, no rate-limit headers
    EXEMPT = "exempt"  # neither


@dataclass(frozen=True)
class RateLimited:
    kind: ViolationKind
    policy_name: str
    message: str
    retry_after_seconds: int


class HubSpotLimits:
    def __init__(self, config: HubSpotSandboxConfig) -> None:
        self.ten_second = SlidingWindow(config.ten_second_limit, config.ten_second_window_seconds)
        self.search = SlidingWindow(config.search_per_second, config.search_window_seconds)
        self.daily = DailyQuota(config.daily_limit, config.daily_timezone)

    def refusal(self, policy: Policy, clock: Clock) -> RateLimited | None:
        if policy is Policy.EXEMPT:
            return None
        now, moment = clock.time(), clock.now()
        if self.daily.is_exhausted(moment):
            wait = self.daily.seconds_until_reset(moment)
            return RateLimited(
                ViolationKind.DAILY_QUOTA, "DAILY", "You have reached your daily limit.", _up(wait)
            )
        window = self.search if policy is Policy.SEARCH else self.ten_second
        if not window.is_full(now):
            return None
        wait = _up(window.retry_after(now))
        if policy is Policy.SEARCH:
            text = "You have reached your secondly limit."
            return RateLimited(ViolationKind.SECONDLY_LIMIT, "SECONDLY", text, wait)
        text = "You have reached your ten_secondly_rolling limit."
        return RateLimited(ViolationKind.RATE_LIMIT, "TEN_SECONDLY_ROLLING", text, wait)

    def count(self, policy: Policy, clock: Clock) -> None:
        if policy is Policy.EXEMPT:
            return
        self.daily.add(clock.now())
        window = self.search if policy is Policy.SEARCH else self.ten_second
        window.add(clock.time())

    def headers(self, clock: Clock) -> dict[str, str]:
        now = clock.time()
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily.limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily.remaining(clock.now())),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.ten_second.seconds * 1000)),
            "X-HubSpot-RateLimit-Max": str(self.ten_second.limit),
            "X-HubSpot-RateLimit-Remaining": str(self.ten_second.remaining(now)),
        }


def _up(seconds: float) -> int:
    return max(1, math.ceil(seconds))
