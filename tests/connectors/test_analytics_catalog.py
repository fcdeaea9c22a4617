"""GA4, Amplitude and OneSignal in the catalog, in the registry's sync objects, and served
by ``renkei sandbox NAME`` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from renkei.cli.main import app as cli
from renkei.connectors.catalog import describe_connector, list_connectors
from renkei.connectors.registry import default_registry
from renkei.connectors.sync_objects import PushProfiles
from renkei.sandbox import SANDBOX_NAMES, connection_help, create_sandbox
from renkei.sandbox.amplitude import DEFAULT_API_KEY as AMPLITUDE_KEY
from renkei.sandbox.ga4 import DEFAULT_API_SECRET, DEFAULT_MEASUREMENT_ID
from renkei.sandbox.onesignal import DEFAULT_API_KEY as ONESIGNAL_KEY
from renkei.sandbox.onesignal import DEFAULT_APP_ID
from tests.support.server import free_port

from .test_catalog import assert_entry_is_complete

NAMES = ("ga4", "amplitude", "onesignal")


def test_the_catalog_lists_them_with_limits_and_batch_sizes() -> None:
    entries = {entry["name"]: entry for entry in list_connectors()}
    for name in NAMES:
        assert_entry_is_complete(entries[name])
        assert entries[name]["limits"]["notes"], name
        assert all(f["secret"] for f in entries[name]["credentials"])
    assert describe_connector("ga4")["limits"]["batch_sizes"] == {"send_events": 500}
    assert describe_connector("amplitude")["limits"]["batch_sizes"]["identify_users"] == 2000
    pools = describe_connector("onesignal")["limits"]["rate_limit_pools"]
    assert pools["notifications"]["calls"] == 150


def test_amplitude_and_onesignal_declare_a_push_of_users() -> None:
    registry = default_registry()
    for name, write, identity in (
        ("amplitude", "set_user_properties", "amplitude_user_id"),
        ("onesignal", "set_user_tags", "onesignal_external_id"),
    ):
        [declared] = registry.sync_objects(name)
        assert isinstance(declared, PushProfiles)
        assert (declared.name, declared.write, declared.identity) == ("users", write, identity)
        op = registry.spec(name).operation(write)
        assert op.batchable and op.max_batch_size is not None
        assert declared.batch_size <= op.max_batch_size
    assert registry.sync_objects("ga4") == ()  # GA4 holds events, not people


def test_each_sandbox_is_in_the_catalog_and_says_how_to_connect() -> None:
    for name in NAMES:
        assert name in SANDBOX_NAMES
    assert DEFAULT_API_SECRET in connection_help(create_sandbox("ga4"), "http://127.0.0.1:9")
    assert ONESIGNAL_KEY in connection_help(create_sandbox("onesignal"), "http://127.0.0.1:9")
    help_text = CliRunner().invoke(cli, ["sandbox", "--help"]).output
    assert all(name in help_text for name in NAMES)
    refused = CliRunner().invoke(cli, ["sandbox", "amplitude", "--set", "nope=1"])
    assert refused.exit_code == 2 and "eps_threshold" in refused.output


def _serve(name: str, *settings: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "renkei", "sandbox", name, "--port", str(port)]
    for setting in settings:
        command += ["--set", setting]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL, env={**os.environ})
    return process, f"http://127.0.0.1:{port}"


def _wait(process: subprocess.Popen[bytes], send: object) -> httpx.Response:
    deadline = time.monotonic() + 120  # a busy machine imports slowly
    while True:
        try:
            return send()  # type: ignore[operator,no-any-return]
        except httpx.TransportError:
            assert process.poll() is None, "the sandbox exited"
            assert time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.1)


@pytest.mark.timeout(400)
def test_renkei_sandbox_serves_each_of_them() -> None:
    started = [
        _serve("ga4"),
        _serve("amplitude", "eps_threshold=5"),
        _serve("onesignal"),
    ]
    try:
        (ga4, ga4_url), (amp, amp_url), (one, one_url) = started
        debug = _wait(
            ga4,
            lambda: httpx.post(
                f"{ga4_url}/debug/mp/collect",
                params={"measurement_id": DEFAULT_MEASUREMENT_ID},
                json={"client_id": "1.1", "events": [{"name": "session_start"}]},
            ),
        )
        assert debug.json()["validationMessages"][0]["validationCode"] == "NAME_RESERVED"
        uploaded = _wait(
            amp,
            lambda: httpx.post(
                f"{amp_url}/2/httpapi",
                json={
                    "api_key": AMPLITUDE_KEY,
                    "events": [{"user_id": "user-1", "event_type": "a"}] * 200,
                },
            ),
        )
        assert uploaded.status_code == 429  # 5 a second over 30 s: the --set took effect
        assert uploaded.json()["throttled_users"] == {"user-1": 7}
        missing = _wait(
            one,
            lambda: httpx.get(
                f"{one_url}/apps/{DEFAULT_APP_ID}/users/by/external_id/nobody",
                headers={"Authorization": f"Key {ONESIGNAL_KEY}"},
            ),
        )
        assert missing.status_code == 404
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(timeout=10)
