"""Google Ads, Meta and LinkedIn conversions in the catalog (API data and CLI), and their
sandboxes from ``renkei sandbox NAME``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest
from typer.testing import CliRunner

from renkei.cli import app
from renkei.clock import ManualClock
from renkei.connectors.catalog import list_connectors
from renkei.sandbox import SANDBOX_NAMES, connection_help, create_sandbox
from renkei.sandbox.google_ads import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, GoogleAdsSandbox
from renkei.sandbox.google_ads import DEFAULT_REFRESH_TOKEN as GOOGLE_REFRESH
from renkei.sandbox.linkedin_capi import DEFAULT_ACCESS_TOKEN as LINKEDIN_TOKEN
from renkei.sandbox.linkedin_capi import DEFAULT_AD_ACCOUNT
from renkei.sandbox.meta_capi import DEFAULT_ACCESS_TOKEN as META_TOKEN
from renkei.sandbox.meta_capi import DEFAULT_PIXEL_ID
from tests.support.server import free_port

from .test_catalog import assert_entry_is_complete

pytestmark = pytest.mark.timeout(240)
ADS = ("google_ads", "meta_capi", "linkedin_capi")


def test_the_ad_connectors_are_in_the_catalog_with_vendor_batch_sizes() -> None:
    entries = {entry["name"]: entry for entry in list_connectors()}
    for name in ADS:
        assert_entry_is_complete(entries[name])
        assert entries[name]["limits"]["notes"]
    assert entries["google_ads"]["limits"]["batch_sizes"] == {
        "upload_click_conversions": 2000,
        "add_customer_match_members": 10_000,
        "remove_customer_match_members": 10_000,
    }
    assert entries["meta_capi"]["limits"]["batch_sizes"] == {"send_events": 1000}
    assert entries["linkedin_capi"]["limits"]["batch_sizes"] == {"send_conversion_events": 5000}
    secret = {f["name"] for f in entries["google_ads"]["credentials"] if f["secret"]}
    assert secret == {"developer_token", "refresh_token", "client_secret", "access_token"}
    for name in ("meta_capi", "linkedin_capi"):
        assert entries[name]["credentials"][0]["secret"] is True


def test_renkei_connectors_list_shows_them() -> None:
    result = CliRunner().invoke(app, ["connectors", "list", "--json"])
    assert result.exit_code == 0, result.output
    names = {entry["name"] for entry in json.loads(result.output)}
    assert names >= set(ADS)
    table = CliRunner().invoke(app, ["connectors", "list"])
    assert table.exit_code == 0 and all(name in table.output for name in ADS)


def test_each_has_a_sandbox_by_name() -> None:
    assert set(ADS) <= set(SANDBOX_NAMES)
    google = create_sandbox("google_ads", ManualClock(), max_conversions=10)
    assert isinstance(google, GoogleAdsSandbox) and google.config.max_conversions == 10
    for name in ADS:
        assert "http://127.0.0.1:9" in connection_help(create_sandbox(name), "http://127.0.0.1:9")


def _google(base: str) -> httpx.Response:
    return httpx.post(
        f"{base}/token",
        data={
            "grant_type": "refresh_token",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "refresh_token": GOOGLE_REFRESH,
        },
    )


def _meta(base: str) -> httpx.Response:
    return httpx.get(f"{base}/v24.0/{DEFAULT_PIXEL_ID}", params={"access_token": META_TOKEN})


def _linkedin(base: str) -> httpx.Response:
    return httpx.get(
        f"{base}/rest/adAccounts/{DEFAULT_AD_ACCOUNT}",
        headers={
            "Authorization": f"Bearer {LINKEDIN_TOKEN}",
            "LinkedIn-Version": "202611",
            "X-Restli-Protocol-Version": "2.0.0",
        },
    )


PROBES: dict[str, Callable[[str], httpx.Response]] = {
    "google_ads": _google,
    "meta_capi": _meta,
    "linkedin_capi": _linkedin,
}


@pytest.mark.parametrize("name", ADS)
def test_renkei_sandbox_serves_each_vendor(name: str) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "renkei", "sandbox", name, "--port", str(port)],
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    try:
        deadline = time.monotonic() + 120  # a busy machine starts Python slowly
        while True:
            try:
                response = PROBES[name](f"http://127.0.0.1:{port}")
                break
            except httpx.TransportError:
                assert process.poll() is None, "the sandbox exited"
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
        assert response.status_code == 200, response.text
    finally:
        process.terminate()
        process.wait(timeout=10)
