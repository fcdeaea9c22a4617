from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from renkei.expr import compile_filter

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
numbers = st.one_of(st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False))
comparables = st.one_of(numbers, st.text(max_size=8))

field_conditions: st.SearchStrategy[Any] = st.one_of(
    scalars,
    st.builds(lambda v: {"$eq": v}, json_values),
    st.builds(lambda v: {"$ne": v}, json_values),
    st.builds(lambda v: {"$in": v}, st.lists(json_values, max_size=4)),
    st.builds(lambda v: {"$nin": v}, st.lists(json_values, max_size=4)),
    st.builds(lambda v: {"$exists": v}, st.booleans()),
    st.builds(lambda v: {"$contains": v}, json_values),
    st.builds(lambda v: {"$regex": v}, st.sampled_from(["a", "^b", "c$", "[0-9]+", "(?i)x"])),
    *[st.builds(lambda v, op=op: {op: v}, comparables) for op in ("$gt", "$gte", "$lt", "$lte")],
)
conditions = st.recursive(field_conditions, lambda inner: st.builds(lambda c: {"$not": c}, inner))
paths = st.sampled_from(["a", "b", "a.b", "a.0", "c.d.e"])
leaf_filters = st.dictionaries(paths, conditions, min_size=1, max_size=3)
filters = st.recursive(
    leaf_filters,
    lambda inner: st.one_of(
        st.builds(lambda fs: {"$and": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda fs: {"$or": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda f: {"$not": f}, inner),
    ),
    max_leaves=8,
)
documents = st.dictionaries(st.sampled_from(["a", "b", "c"]), json_values, max_size=3)

NEGATIVE = {"$ne", "$nin"}


@given(filters, documents)
def test_matching_is_total(spec: Any, document: dict[str, Any]) -> None:
    assert compile_filter(spec).matches(document) in (True, False)


@given(filters, documents)
def test_not_inverts_any_filter(spec: Any, document: dict[str, Any]) -> None:
    assert compile_filter({"$not": spec}).matches(document) is not compile_filter(spec).matches(
        document
    )


@given(st.lists(leaf_filters, min_size=1, max_size=3), documents)
def test_de_morgan(parts: list[Any], document: dict[str, Any]) -> None:
    left = compile_filter({"$not": {"$or": parts}}).matches(document)
    right = compile_filter({"$and": [{"$not": part} for part in parts]}).matches(document)
    assert left is right


@given(field_conditions, documents)
def test_missing_path_matches_only_negative_operators(condition: Any, document: Any) -> None:
    operator = next(iter(condition)) if isinstance(condition, dict) and condition else "$eq"
    expected = operator in NEGATIVE or condition == {"$exists": False}
    assert compile_filter({"nowhere.x": condition}).matches(document) is expected


@given(json_values, st.lists(json_values, max_size=4))
def test_nin_is_not_in_and_ne_is_not_eq(value: Any, candidates: list[Any]) -> None:
    document = {"x": value}
    assert compile_filter({"x": {"$nin": candidates}}).matches(document) is not compile_filter(
        {"x": {"$in": candidates}}
    ).matches(document)
    for candidate in candidates:
        assert compile_filter({"x": {"$ne": candidate}}).matches(document) is not compile_filter(
            {"x": {"$eq": candidate}}
        ).matches(document)


@given(numbers, numbers)
def test_numbers_order_like_python(value: float, bound: float) -> None:
    document = {"x": value}
    assert compile_filter({"x": {"$gt": bound}}).matches(document) is (value > bound)
    assert compile_filter({"x": {"$lte": bound}}).matches(document) is (value <= bound)
    assert compile_filter({"x": {"$in": [bound]}}).matches(document) is (value == bound)


@given(numbers, st.text(max_size=8))
def test_strings_and_numbers_never_compare(number: float, text: str) -> None:
    for op in ("$eq", "$gt", "$gte", "$lt", "$lte"):
        assert not compile_filter({"x": {op: text}}).matches({"x": number})
        assert not compile_filter({"x": {op: number}}).matches({"x": text})


@given(st.text(max_size=20), st.text(max_size=5))
def test_contains_on_strings_is_substring(text: str, part: str) -> None:
    assert compile_filter({"x": {"$contains": part}}).matches({"x": text}) is (part in text)
