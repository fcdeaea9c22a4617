"""A scaled-down simulated day (the issue's full size runs in bench/syncs_quota.py): the
quota is never exceeded, every profile's last change reaches Marketo, the 80 % alert
fires, and the runs report the calls they made. Once with a realtime call wanted on every
identify, once with KARTE's 24 h suppression per user."""

from __future__ import annotations

import pytest

from .day import simulate_day

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("suppress_seconds", [0, 86400], ids=["every-identify", "karte-24h"])
async def test_a_day_of_identifies_stays_within_the_quota_and_loses_no_change(
    database_url: str, suppress_seconds: int
) -> None:
    result = await simulate_day(
        database_url,
        events=480,
        users=160,
        quota=60,
        step_seconds=600,
        suppress_seconds=suppress_seconds,
    )
    assert result.violations == []
    assert result.calls_used <= result.quota
    assert result.sandbox_calls <= result.quota
    assert (result.missing, result.stale) == (0, 0)
    assert "connection.quota.warning" in result.alerts
    assert "coalesce" in result.modes
    assert result.calls_by_trigger["realtime"] > 0
    assert result.calls_by_trigger["schedule"] > 0  # the batches carry what was held back
    assert result.run_calls == sum(result.calls_by_trigger.values()) >= result.upserts
