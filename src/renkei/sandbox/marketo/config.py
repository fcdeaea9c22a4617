"""Settings of a Marketo sandbox; every default is Adobe's documented value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LeadField:
    """A lead field as Describe Lead reports it. ``searchable`` fields can be a
    ``filterType`` or ``lookupField``."""

    name: str
    data_type: str
    display_name: str = ""
    length: int | None = None
    read_only: bool = False
    searchable: bool = False

    @property
    def label(self) -> str:
        return self.display_name or self.name


@dataclass(frozen=True)
class ActivityAttribute:
    name: str
    data_type: str
    api_name: str | None = None
    description: str = ""


@dataclass(frozen=True)
class ActivityType:
    """A standard or custom activity type. Custom types (``api_name`` set) accept records
    through Add Custom Activities."""

    id: int
    name: str
    primary_attribute: ActivityAttribute
    attributes: tuple[ActivityAttribute, ...] = ()
    description: str = ""
    api_name: str | None = None
    trigger_name: str = ""
    filter_name: str = ""

    @property
    def is_custom(self) -> bool:
        return self.api_name is not None


DEFAULT_CUSTOM_ACTIVITY_TYPE = ActivityType(
    id=100001,
    name="Renkei Event",
    api_name="renkeiEvent",
    description="An event forwarded by Renkei",
    trigger_name="Has Renkei Event",
    filter_name="Had Renkei Event",
    primary_attribute=ActivityAttribute("Event Name", "string", "eventName"),
    attributes=(
        ActivityAttribute("Event Id", "string", "eventId"),
        ActivityAttribute("Properties", "text", "properties"),
    ),
)


@dataclass(frozen=True)
class MarketoSandboxConfig:
    # Identity: one custom service (LaunchPoint) with these credentials.
    client_id: str = "renkei-sandbox"
    client_secret: str = "renkei-sandbox-secret"
    scope: str = "apis@renkei.sandbox"
    token_lifetime_seconds: float = 3600.0
    # The ``access_token`` query parameter: not in the spec, and Adobe's Authentication page
    # announces its removal on 2026-07-31, so only the Authorization header works by default.
    allow_query_token: bool = False

    # Limits (REST API overview and error codes 606, 607, 615).
    rate_limit_calls: int = 100
    rate_limit_window_seconds: float = 20.0
    max_concurrent: int = 10
    daily_quota: int = 50_000
    quota_timezone: str = "America/Chicago"  # "resets daily at 12:00AM CST"

    # Sizes: records per write, records per page, and list parameters.
    batch_limit: int = 300
    page_size: int = 300
    filter_values_limit: int = 300
    filter_match_limit: int = 1000
    activity_type_ids_limit: int = 10
    lead_ids_limit: int = 30
    attributes_max_bytes: int = 65536
    max_body_bytes: int = 1_048_576
    max_uri_bytes: int = 8192

    # The instance's schema.
    custom_fields: tuple[LeadField, ...] = ()
    custom_activity_types: tuple[ActivityType, ...] = (DEFAULT_CUSTOM_ACTIVITY_TYPE,)

    # Preloaded data: leads, then activities (Visit Webpage) spread over those leads.
    seed_leads: int = 0
    seed_activities: int = 0
