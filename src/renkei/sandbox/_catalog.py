"""The sandboxes of the catalog connectors, by name, for ``create_sandbox``/``serve``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from renkei.clock import Clock
from renkei.sandbox._base import VendorSandbox
from renkei.sandbox.braze import BrazeSandboxConfig, create_braze_app
from renkei.sandbox.klaviyo import KlaviyoSandboxConfig, create_klaviyo_app
from renkei.sandbox.mailchimp import MailchimpSandboxConfig, create_mailchimp_app
from renkei.sandbox.slack import SlackSandboxConfig, create_slack_app

__all__ = ["CATALOG_CONFIGS", "CATALOG_SANDBOXES"]

Factory = Callable[..., VendorSandbox[Any]]


def _braze(clock: Clock | None, **overrides: Any) -> VendorSandbox[Any]:
    return create_braze_app(BrazeSandboxConfig(**overrides), clock)


def _mailchimp(clock: Clock | None, **overrides: Any) -> VendorSandbox[Any]:
    return create_mailchimp_app(MailchimpSandboxConfig(**overrides), clock)


def _klaviyo(clock: Clock | None, **overrides: Any) -> VendorSandbox[Any]:
    return create_klaviyo_app(KlaviyoSandboxConfig(**overrides), clock)


def _slack(clock: Clock | None, **overrides: Any) -> VendorSandbox[Any]:
    return create_slack_app(SlackSandboxConfig(**overrides), clock)


CATALOG_SANDBOXES: dict[str, Factory] = {
    "braze": _braze,
    "mailchimp": _mailchimp,
    "klaviyo": _klaviyo,
    "slack": _slack,
}

# The settings each sandbox takes (``renkei sandbox NAME --set FIELD=VALUE``).
CATALOG_CONFIGS: dict[str, type[Any]] = {
    "braze": BrazeSandboxConfig,
    "mailchimp": MailchimpSandboxConfig,
    "klaviyo": KlaviyoSandboxConfig,
    "slack": SlackSandboxConfig,
}
