from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from renkei.events import Event, format_timestamp, parse_timestamp


@pytest.mark.parametrize(
    "value", [None, True, "", "   ", "soon", "2024-02-30", [], {}, float("nan"), 10**30, "1e5"]
)
def test_not_timestamps(value: Any) -> None:
    assert parse_timestamp(value) is None


def test_naive_times_are_utc_and_results_are_utc() -> None:
    assert parse_timestamp("2024-05-01T10:00:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    parsed = parse_timestamp("2024-05-01T19:00:00+09:00")
    assert parsed == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


def test_format_timestamp() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert format_timestamp(datetime(2024, 5, 1, 19, 0, 0, 123456, tzinfo=tokyo)) == (
        "2024-05-01T10:00:00.123Z"
    )


def test_event_to_dict() -> None:
    when = datetime(2026, 1, 1, 12, tzinfo=UTC)
    event = Event("evt_1", "track", "Clicked", {"a": 1}, when, when, "src_1", user_id="u1")
    assert event.to_dict() == {
        "id": "evt_1",
        "type": "track",
        "name": "Clicked",
        "data": {"a": 1},
        "occurred_at": "2026-01-01T12:00:00.000Z",
        "received_at": "2026-01-01T12:00:00.000Z",
        "source_id": "src_1",
        "user_id": "u1",
        "anonymous_id": None,
        "email": None,
    }
