"""Settings of a HubSpot sandbox; defaults are HubSpot's documented values for a private
(privately distributed) app on a Free or Starter account."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

DEFAULT_TOKEN = "pat-na1-00000000-0000-4000-8000-000000000000"
DEFAULT_OAUTH_CLIENT_ID = "00000000-0000-4000-8000-00000000a99c"
DEFAULT_OAUTH_CLIENT_SECRET = "hubspot-sandbox-oauth-client-secret"

Tier = Literal["free", "starter", "professional", "enterprise"]

# (requests per 10 seconds, requests per day) per account tier (usage guidelines).
TIER_LIMITS: dict[str, tuple[int, int]] = {
    "free": (100, 250_000),
    "starter": (100, 250_000),
    "professional": (190, 625_000),
    "enterprise": (190, 1_000_000),
}


@dataclass(frozen=True)
class HubSpotSandboxConfig:
    # Private-app access tokens accepted as ``Authorization: Bearer``; None scopes = all.
    access_tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    scopes: frozenset[str] | None = None
    portal_id: int = 1234567

    # Rate limits: a rolling 10-second window, a daily count reset at midnight in the
    # account's time zone, and the search endpoints' own per-second limit.
    ten_second_limit: int = 100
    ten_second_window_seconds: float = 10.0
    daily_limit: int = 250_000
    daily_timezone: str = "UTC"
    search_per_second: int = 5
    search_window_seconds: float = 1.0

    # Sizes.
    batch_limit: int = 100
    list_page_limit: int = 100
    search_page_limit: int = 200
    search_result_cap: int = 10_000
    search_max_filter_groups: int = 5
    search_max_filters_per_group: int = 6
    search_max_filters: int = 18
    search_max_sorts: int = 1
    search_query_max_chars: int = 3000
    event_batch_limit: int = 500

    # Schema: custom contact properties (name -> string|number|date|datetime|bool|
    # enumeration) and, when set, the only custom event names ``/events/v3/send`` accepts.
    custom_properties: Mapping[str, str] = field(default_factory=dict)
    event_names: tuple[str, ...] | None = None

    seed_contacts: int = 0

    # The public OAuth app Connect uses; HubSpot's OAuth access tokens last 30 minutes.
    oauth_client_id: str = DEFAULT_OAUTH_CLIENT_ID
    oauth_client_secret: str = DEFAULT_OAUTH_CLIENT_SECRET
    oauth_token_lifetime_seconds: float = 1800.0

    @classmethod
    def for_tier(cls, tier: Tier, **overrides: Any) -> HubSpotSandboxConfig:
        per_ten_seconds, per_day = TIER_LIMITS[tier]
        base = cls(ten_second_limit=per_ten_seconds, daily_limit=per_day)
        return replace(base, **overrides)
