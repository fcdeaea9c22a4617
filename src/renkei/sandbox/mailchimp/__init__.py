"""A local Mailchimp Marketing API 3.0 (audience members, tags, events, batch upsert)
that honours Mailchimp's limits.

    sandbox = create_mailchimp_app(MailchimpSandboxConfig(max_connections=3), clock)
    with serve_in_thread(sandbox.app) as base_url:
        api_root = base_url + "/3.0"          # Basic auth, the key as password
    assert sandbox.violations == []
"""

from renkei.sandbox.mailchimp.app import MailchimpSandbox, create_mailchimp_app
from renkei.sandbox.mailchimp.state import (
    DEFAULT_API_KEY,
    DEFAULT_LIST_ID,
    MailchimpSandboxConfig,
    Member,
    MemberEvent,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_LIST_ID",
    "MailchimpSandbox",
    "MailchimpSandboxConfig",
    "Member",
    "MemberEvent",
    "create_mailchimp_app",
]
