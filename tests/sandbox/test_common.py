"""Shared sandbox machinery: windows, daily quotas, faults, the gate, serving, factory."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from renkei.sandbox import (
    HubSpotSandbox,
    MarketoSandbox,
    connection_help,
    create_sandbox,
    serve_in_thread,
)
from renkei.sandbox._common import (
    DailyQuota,
    Fault,
    Faults,
    Gate,
    SlidingWindow,
    iso_millis,
    iso_seconds,
    parse_datetime,
)


def test_sliding_window_counts_events_in_the_last_seconds() -> None:
    window = SlidingWindow(limit=2, seconds=10)
    window.add(100.0)
    window.add(105.0)
    assert window.is_full(105.0)
    assert window.retry_after(106.0) == pytest.approx(4.0)
    assert not window.is_full(110.0)
    assert window.remaining(110.0) == 1
    assert window.remaining(115.0) == 2


def test_daily_quota_follows_the_time_zone_through_daylight_saving() -> None:
    quota = DailyQuota(limit=1, timezone="America/Chicago")
    summer = datetime(2026, 7, 1, 4, 59, tzinfo=UTC)  # 23:59 CDT on June 30
    quota.add(summer)
    assert quota.is_exhausted(summer)
    assert quota.resets_at(summer) == datetime(2026, 7, 1, 5, tzinfo=UTC)
    assert not quota.is_exhausted(summer + timedelta(minutes=1))
    winter = datetime(2026, 1, 15, 5, 59, tzinfo=UTC)  # 23:59 CST
    assert quota.seconds_until_reset(winter) == 60


def test_faults_match_by_path_prefix_and_method_in_order() -> None:
    faults = Faults()
    faults.add(Fault(1, 500, None, path="/a", method="POST"))
    faults.add(Fault(2, 502, None))
    assert faults.pending == 3
    first = faults.take("POST", "/a/b")
    assert first is not None and first.status == 500
    second = faults.take("POST", "/a/b")
    assert second is not None and second.status == 502
    assert faults.take("GET", "/x") is not None
    assert faults.take("GET", "/x") is None


def test_time_formats() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert iso_seconds(moment) == "2026-01-02T03:04:05Z"
    assert iso_millis(moment) == "2026-01-02T03:04:05.678Z"
    assert parse_datetime("2014-09-17T22:31:49+0000") == datetime(
        2014, 9, 17, 22, 31, 49, tzinfo=UTC
    )
    tokyo = parse_datetime("2016-09-26T06:56:35+07:00")
    assert tokyo == datetime(2016, 9, 26, 6, 56, 35, tzinfo=timezone(timedelta(hours=7)))
    assert parse_datetime("2016-09-15") == datetime(2016, 9, 15, tzinfo=UTC)
    assert parse_datetime("soon") is None


def test_gate_holds_requests_until_opened() -> None:
    gate = Gate()
    released = threading.Event()

    async def request() -> None:
        await gate.pass_through()
        released.set()

    gate.close()
    thread = threading.Thread(target=asyncio.run, args=(request(),))
    thread.start()
    assert gate.wait_for_waiters(1)
    assert not released.is_set()
    gate.open()
    thread.join(5)
    assert released.is_set()


def test_serve_in_thread_serves_and_stops() -> None:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/", hello)])
    with serve_in_thread(app) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert httpx.get(base_url).text == "hello"
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url, timeout=1)


def test_create_sandbox_by_name_with_overrides() -> None:
    marketo = create_sandbox("marketo", daily_quota=10, seed_leads=2)
    assert isinstance(marketo, MarketoSandbox)
    assert marketo.config.daily_quota == 10 and len(marketo.leads) == 2
    assert "client_id=renkei-sandbox" in connection_help(marketo, "http://127.0.0.1:9")
    hubspot = create_sandbox("hubspot", seed_contacts=3)
    assert isinstance(hubspot, HubSpotSandbox) and len(hubspot.contacts) == 3
    assert "Authorization: Bearer pat-" in connection_help(hubspot, "http://127.0.0.1:9")
    with pytest.raises(ValueError, match="unknown sandbox"):
        create_sandbox("salesforce")
    with pytest.raises(TypeError):
        create_sandbox("marketo", no_such_setting=1)
