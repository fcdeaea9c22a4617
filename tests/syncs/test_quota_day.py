"""A scaled-down simulated day (the full size runs in bench/syncs_quota.py): the quota is
never exceeded, every profile's last change reaches Marketo, the 80 % alert fires."""

from __future__ import annotations

import pytest

from .day import simulate_day

pytestmark = pytest.mark.timeout(300)


async def test_a_day_of_identifies_stays_within_the_quota_and_loses_no_change(
    database_url: str,
) -> None:
    result = await simulate_day(database_url, events=480, users=160, quota=60, chunk=120)
    assert result.violations == []
    assert result.calls_used <= result.quota
    assert result.sandbox_calls <= result.quota
    assert (result.missing, result.stale) == (0, 0)
    assert "connection.quota.warning" in result.alerts
    assert "coalesce" in result.modes
    assert result.run_calls >= result.upserts
