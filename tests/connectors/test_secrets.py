"""Nothing secret leaves Renkei: a whole run's logs (Renkei's own, httpx's, everything at
DEBUG) and every database row are searched for credentials and access tokens."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import structlog

from renkei.clock import ManualClock
from renkei.observability.logging import configure_logging
from renkei.store import Database
from tests.support.rawscan import assert_not_stored

from .harness import (
    HUBSPOT_CREDENTIALS,
    MARKETO_CREDENTIALS,
    START,
    contacts,
    hubspot_sandbox,
    leads,
    marketo_sandbox,
    rig,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Production logging (JSON, scrubbing processor) at DEBUG, into a buffer, plus every
    stdlib logger (httpx logs each request's URL at INFO)."""
    saved = structlog.get_config()
    buffer = io.StringIO()
    configure_logging("debug", "json")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(buffer))
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        structlog.configure(**saved)


async def test_a_whole_run_logs_and_stores_no_credential_or_token(
    database_url: str, database: Database, captured_logs: io.StringIO
) -> None:
    clock = ManualClock(START)
    with (
        marketo_sandbox(clock, rate_limit_calls=3) as (marketo, marketo_url),
        hubspot_sandbox(clock) as (hubspot, hubspot_url),
    ):
        async with rig(database_url, clock) as r:
            await r.connect(
                "mkto",
                "marketo",
                config={"base_url": marketo_url},
                credentials=MARKETO_CREDENTIALS,
                limits={"rate_limit": {"calls": 3, "per_seconds": 20}},
            )
            await r.connect(
                "hs", "hubspot", config={"base_url": hubspot_url}, credentials=HUBSPOT_CREDENTIALS
            )
            assert (await r.service.test("mkto"))["ok"]
            await r.submit("mkto", "upsert_leads", leads(700))
            await r.submit(
                "hs", "upsert_contacts", [*contacts(150), {"email": "x@example.com", "nope": 1}]
            )
            await r.run_due()
            marketo.expire_tokens()  # 602 mid-run, then a fresh token
            marketo.fail_next_http(1, 502, path="/rest/v1/leads.json")
            await r.drive()
            clock.advance(20)  # a fresh rate window for the reads
            await r.service.call(
                "mkto",
                "read_activities",
                {"since": "2026-03-01T00:00:00Z", "activity_type_ids": [12]},
            )
            await r.service.call("hs", "read_contacts", {"since": 0})
            # a refused credential: the error is logged and stored, the secret is not
            wrong_secret = "wrong-client-secret-5f4e3d2c"
            await r.connect(
                "bad",
                "marketo",
                config={"base_url": marketo_url},
                credentials={"client_id": "renkei-sandbox", "client_secret": wrong_secret},
            )
            failed = await r.service.test("bad")
            assert failed["ok"] is False
            assert len(marketo.leads) == 700
            assert len(hubspot.contacts) == 150

    logs = captured_logs.getvalue()
    assert '"event": "connector.request"' in logs
    assert "connector.reauthenticate" in logs
    assert "HTTP Request: GET" in logs  # httpx's own line, with the URL redacted
    assert "client_secret=%5Bredacted%5D" in logs or "client_secret=[redacted]" in logs
    tokens = list(marketo.tokens._issued)  # every access token the sandbox handed out
    assert len(tokens) == 2
    secrets = [
        MARKETO_CREDENTIALS["client_secret"],
        HUBSPOT_CREDENTIALS["access_token"],
        wrong_secret,
        *tokens,
    ]
    for secret in secrets:
        assert secret not in logs
    await assert_not_stored(database, *secrets)
