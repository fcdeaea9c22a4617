"""A local Klaviyo API (profile import, events, bulk profile import jobs, profile paging)
that honours Klaviyo's revision header, JSON:API bodies and per-endpoint burst and steady
rate limits.

    sandbox = create_klaviyo_app(KlaviyoSandboxConfig(), clock)
    with serve_in_thread(sandbox.app) as base_url:
        ...                                   # Authorization: Klaviyo-API-Key <key>
    assert sandbox.violations == []
"""

from renkei.sandbox.klaviyo.app import KlaviyoSandbox, create_klaviyo_app
from renkei.sandbox.klaviyo.state import (
    DEFAULT_API_KEY,
    RATE_LIMITS,
    REVISION,
    BulkJob,
    Event,
    KlaviyoSandboxConfig,
    Profile,
)

__all__ = [
    "DEFAULT_API_KEY",
    "RATE_LIMITS",
    "REVISION",
    "BulkJob",
    "Event",
    "KlaviyoSandbox",
    "KlaviyoSandboxConfig",
    "Profile",
    "create_klaviyo_app",
]
