"""``renkei sandbox NAME --port N`` (marketo, hubspot, braze, mailchimp, klaviyo, slack, ga4,
amplitude, onesignal): run a local simulator of a vendor API.

Thresholds are the vendor's documented ones unless ``--set NAME=VALUE`` changes them
(``--set rate_limit_calls=5 --set seed_leads=100``); see
:class:`renkei.sandbox.MarketoSandboxConfig` and :class:`renkei.sandbox.HubSpotSandboxConfig`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import typer

from renkei.cli._common import err_console

__all__ = ["sandbox_app"]

sandbox_app = typer.Typer(
    help="Local simulators of vendor APIs, for tests, examples and trying flows.",
    no_args_is_help=True,
)

_HOST = typer.Option("127.0.0.1", help="Address to listen on.")
_SET = typer.Option([], "--set", help="NAME=VALUE: override a sandbox setting (repeatable).")


def _overrides(name: str, values: list[str]) -> dict[str, Any]:
    from renkei.sandbox import HubSpotSandboxConfig, MarketoSandboxConfig
    from renkei.sandbox._catalog import CATALOG_CONFIGS

    configs = {"marketo": MarketoSandboxConfig, "hubspot": HubSpotSandboxConfig, **CATALOG_CONFIGS}
    config = configs[name]
    known = {f.name: f for f in dataclasses.fields(config)}
    overrides: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or key not in known:
            err_console.print(
                f"--set takes NAME=VALUE with NAME one of: {', '.join(sorted(known))}",
                markup=False,
            )
            raise typer.Exit(2)
        try:
            value: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = raw
        if isinstance(value, list):
            value = tuple(value)
        overrides[key] = value
    return overrides


def _serve(name: str, host: str, port: int, settings: list[str]) -> None:
    from renkei.sandbox import serve

    serve(name, host, port, **_overrides(name, settings))


@sandbox_app.command("marketo")
def marketo(
    port: int = typer.Option(9001, help="Port to listen on."),
    host: str = _HOST,
    set_: list[str] = _SET,
) -> None:
    """A Marketo Engage REST API: identity at /identity, REST at /rest."""
    _serve("marketo", host, port, set_)


@sandbox_app.command("hubspot")
def hubspot(
    port: int = typer.Option(9002, help="Port to listen on."),
    host: str = _HOST,
    set_: list[str] = _SET,
) -> None:
    """A HubSpot CRM v3 contacts and custom events API."""
    _serve("hubspot", host, port, set_)


def _catalog_command(name: str, default_port: int, summary: str) -> None:
    def command(
        port: int = typer.Option(default_port, help="Port to listen on."),
        host: str = _HOST,
        set_: list[str] = _SET,
    ) -> None:
        _serve(name, host, port, set_)

    command.__doc__ = summary
    sandbox_app.command(name)(command)


_catalog_command("braze", 9003, "Braze's REST API: POST /users/track.")
_catalog_command("mailchimp", 9004, "Mailchimp's Marketing API: lists and members.")
_catalog_command("klaviyo", 9005, "Klaviyo's JSON:API: profiles, profile import, events.")
_catalog_command("slack", 9006, "A Slack incoming webhook.")
_catalog_command("ga4", 9010, "GA4's Measurement Protocol: /mp/collect and /debug/mp/collect.")
_catalog_command("amplitude", 9011, "Amplitude's HTTP V2 API (/2/httpapi) and Identify API.")
_catalog_command("onesignal", 9012, "OneSignal's REST API: notifications and users.")
_catalog_command(
    "google_ads", 9013, "Google Ads API: click conversions, Customer Match jobs, OAuth tokens."
)
_catalog_command("meta_capi", 9014, "Meta Conversions API: POST /{version}/{pixel_id}/events.")
_catalog_command("linkedin_capi", 9015, "LinkedIn Conversions API: /rest/conversionEvents.")
