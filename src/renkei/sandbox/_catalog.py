"""The sandboxes of the catalog connectors, by name, for ``create_sandbox``/``serve``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from renkei.clock import Clock
from renkei.sandbox._base import VendorSandbox
from renkei.sandbox.amplitude import AmplitudeSandboxConfig, create_amplitude_app
from renkei.sandbox.braze import BrazeSandboxConfig, create_braze_app
from renkei.sandbox.ga4 import GA4SandboxConfig, create_ga4_app
from renkei.sandbox.google_ads import GoogleAdsSandboxConfig, create_google_ads_app
from renkei.sandbox.klaviyo import KlaviyoSandboxConfig, create_klaviyo_app
from renkei.sandbox.linkedin_capi import LinkedInCapiSandboxConfig, create_linkedin_capi_app
from renkei.sandbox.mailchimp import MailchimpSandboxConfig, create_mailchimp_app
from renkei.sandbox.meta_capi import MetaCapiSandboxConfig, create_meta_capi_app
from renkei.sandbox.onesignal import OneSignalSandboxConfig, create_onesignal_app
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


def _ga4(clock: Clock | None, **overrides: Any) -> VendorSandbox[Any]:
    return create_ga4_app(GA4SandboxConfig(**overrides), clock)


def _amplitude(clock: Clock | None, **overrides: Any) -> VendorSandbox[Any]:
    return create_amplitude_app(AmplitudeSandboxConfig(**overrides), clock)


def _onesignal(clock: Clock | None, **overrides: Any) -> VendorSandbox[Any]:
    return create_onesignal_app(OneSignalSandboxConfig(**overrides), clock)


def _google_ads(clock: Clock | None, **overrides: Any) -> VendorSandbox[Any]:
    return create_google_ads_app(GoogleAdsSandboxConfig(**overrides), clock)


def _meta_capi(clock: Clock | None, **overrides: Any) -> VendorSandbox[Any]:
    return create_meta_capi_app(MetaCapiSandboxConfig(**overrides), clock)


def _linkedin_capi(clock: Clock | None, **overrides: Any) -> VendorSandbox[Any]:
    return create_linkedin_capi_app(LinkedInCapiSandboxConfig(**overrides), clock)


CATALOG_SANDBOXES: dict[str, Factory] = {
    "braze": _braze,
    "mailchimp": _mailchimp,
    "klaviyo": _klaviyo,
    "slack": _slack,
    "ga4": _ga4,
    "amplitude": _amplitude,
    "onesignal": _onesignal,
    "google_ads": _google_ads,
    "meta_capi": _meta_capi,
    "linkedin_capi": _linkedin_capi,
}

# The settings each sandbox takes (``renkei sandbox NAME --set FIELD=VALUE``).
CATALOG_CONFIGS: dict[str, type[Any]] = {
    "braze": BrazeSandboxConfig,
    "mailchimp": MailchimpSandboxConfig,
    "klaviyo": KlaviyoSandboxConfig,
    "slack": SlackSandboxConfig,
    "ga4": GA4SandboxConfig,
    "amplitude": AmplitudeSandboxConfig,
    "onesignal": OneSignalSandboxConfig,
    "google_ads": GoogleAdsSandboxConfig,
    "meta_capi": MetaCapiSandboxConfig,
    "linkedin_capi": LinkedInCapiSandboxConfig,
}
