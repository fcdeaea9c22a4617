"""A local Adobe Marketo Engage REST API that honours Adobe's documented contract.

sandbox = create_marketo_app(MarketoSandboxConfig(rate_limit_calls=5), clock)
with serve_in_thread(sandbox.app) as base_url:
    ...                                   # identity at base_url + "/identity"
assert sandbox.violations == []
"""

from renkei.sandbox.marketo.app import MarketoSandbox, create_marketo_app
from renkei.sandbox.marketo.config import (
    DEFAULT_CUSTOM_ACTIVITY_TYPE,
    ActivityAttribute,
    ActivityType,
    LeadField,
    MarketoSandboxConfig,
)
from renkei.sandbox.marketo.state import Activity, FieldChange, Lead

__all__ = [
    "DEFAULT_CUSTOM_ACTIVITY_TYPE",
    "Activity",
    "ActivityAttribute",
    "ActivityType",
    "FieldChange",
    "Lead",
    "LeadField",
    "MarketoSandbox",
    "MarketoSandboxConfig",
    "create_marketo_app",
]
