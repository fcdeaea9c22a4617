"""A local HubSpot CRM v3 contacts and custom-event API that honours HubSpot's limits.

sandbox = create_hubspot_app(HubSpotSandboxConfig(ten_second_limit=5), clock)
with serve_in_thread(sandbox.app) as base_url:
    ...                                   # Authorization: Bearer <config token>
assert sandbox.violations == []
"""

from renkei.sandbox.hubspot.app import HubSpotSandbox, create_hubspot_app
from renkei.sandbox.hubspot.config import DEFAULT_TOKEN, TIER_LIMITS, HubSpotSandboxConfig
from renkei.sandbox.hubspot.state import Contact, EventCompletion

__all__ = [
    "DEFAULT_TOKEN",
    "TIER_LIMITS",
    "Contact",
    "EventCompletion",
    "HubSpotSandbox",
    "HubSpotSandboxConfig",
    "create_hubspot_app",
]
