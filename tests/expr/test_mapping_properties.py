from __future__ import annotations

from datetime import date, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from renkei.expr import compile_mapping
from renkei.expr.mapping import CONVERSIONS

YEAR_1 = -62135596800
YEAR_9999 = 253402300799
WORDS = ["true", "false", "yes", "no", "1", "0", "on", "off"]

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=12),
        st.sampled_from(["1700000000", "2024-01-02", "12.5", " YES ", "", "1e999"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
conversion_chains = st.lists(
    st.sampled_from([*sorted(set(CONVERSIONS) - {"default"}), {"default": "n/a"}]),
    min_size=1,
    max_size=4,
)


def apply(value: object, *conversions: Any, **options: Any) -> Any:
    rule = {"target": "out", "source": "in", "convert": list(conversions), **options}
    return compile_mapping([rule]).apply({"in": value})


def converted(value: object, *conversions: Any, **options: Any) -> Any:
    result = apply(value, *conversions, **options)
    assert result.ok, result.problems
    return result.record["out"]


@given(json_values, conversion_chains)
def test_bad_values_are_problems_never_exceptions(value: object, chain: list[Any]) -> None:
    result = apply(value, *chain)
    assert ("out" in result.record) is result.ok
    assert len(result.problems) <= 1
    for found in result.problems:
        assert found.field == "out"
        assert found.conversion in CONVERSIONS
        assert found.reason


@given(st.integers(YEAR_1, YEAR_9999))
def test_unix_seconds_round_trip(seconds: int) -> None:
    assert converted(seconds, "to_date", unit="s", output="unix") == seconds
    assert converted(str(seconds), "to_date", unit="s", output="unix") == seconds
    iso = converted(seconds, "to_date", unit="s", output="datetime")
    assert datetime.fromisoformat(iso).timestamp() == seconds
    assert converted(iso, "to_date", output="unix") == seconds


@given(st.integers(YEAR_1 * 1000, YEAR_9999 * 1000))
def test_unix_milliseconds_round_trip(millis: int) -> None:
    assert converted(millis, "to_date", unit="ms", output="unix_ms") == millis
    assert converted(str(millis), "to_date", unit="ms", output="unix_ms") == millis


@given(st.integers(int(1e11), YEAR_9999 * 1000))
def test_auto_unit_reads_large_numbers_as_milliseconds(millis: int) -> None:
    assert converted(millis, "to_date", output="unix_ms") == millis


@given(st.dates())
def test_dates_round_trip(day: date) -> None:
    assert converted(day.isoformat(), "to_date") == day.isoformat()
    seconds = converted(day.isoformat(), "to_date", output="unix")
    assert converted(seconds, "to_date", unit="s", output="date") == day.isoformat()
    formatted = f"{day.year:04d}/{day.month:02d}/{day.day:02d}"
    assert converted(formatted, "to_date", format="%Y/%m/%d") == day.isoformat()


@given(st.integers())
def test_integers_round_trip_through_strings(number: int) -> None:
    text = converted(number, "to_string")
    if len(text) <= 100:
        assert converted(text, "to_number") == number
        assert converted(text, "to_int") == number


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_through_strings(number: float) -> None:
    assert converted(converted(number, "to_string"), "to_number") == number


@given(st.sampled_from(WORDS), st.data())
def test_to_bool_words_in_any_case(word: str, data: st.DataObject) -> None:
    cased = "".join(data.draw(st.sampled_from([ch.lower(), ch.upper()])) for ch in word)
    assert converted(f" {cased} ", "to_bool") is (word in ("true", "yes", "1", "on"))


@given(st.text(max_size=10).filter(lambda text: text.strip().casefold() not in WORDS))
def test_to_bool_rejects_other_text(text: str) -> None:
    result = apply(text, "to_bool")
    assert result.record == {}
    assert result.problems[0].value == text


@given(st.text(max_size=20))
def test_text_conversions_follow_python(text: str) -> None:
    assert converted(text, "lowercase") == text.lower()
    assert converted(text, "uppercase") == text.upper()
    assert converted(text, "trim") == text.strip()


@given(st.lists(st.text(alphabet="abc ", min_size=1, max_size=4), max_size=5))
def test_join_then_split_keeps_non_blank_items(items: list[str]) -> None:
    joined = converted(items, "join")
    assert converted(joined, "split") == [item.strip() for item in items if item.strip()]
