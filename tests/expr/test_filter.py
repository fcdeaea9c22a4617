from __future__ import annotations

from datetime import date

import pytest

from renkei.expr import FilterError, compile_filter, validate_filter
from renkei.expr.filter import MAX_PATTERN_LENGTH, MAX_REGEX_INPUT

EVENT = {
    "type": "track",
    "user_id": "u1",
    "occurred_at": "2024-05-01T10:00:00Z",
    "data": {
        "amount": 150,
        "price": 9.5,
        "mode": "learn",
        "tags": ["new", "vip"],
        "note": None,
        "flag": True,
        "zero": 0,
        "email": "Ann@Example.com",
        "address": {"city": "Osaka", "zip": "530"},
        "items": [{"sku": "A1"}, {"sku": "B2"}],
        "count_text": "100",
    },
}


def matches(spec: object, document: object = EVENT) -> bool:
    return compile_filter(spec).matches(document)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"data.mode": "learn"}, True),
        ({"data.mode": "test"}, False),
        ({"data.mode": {"$eq": "learn"}}, True),
        ({"data.mode": {"$ne": "learn"}}, False),
        ({"data.amount": {"$gt": 100}}, True),
        ({"data.amount": {"$gt": 150}}, False),
        ({"data.amount": {"$gte": 150}}, True),
        ({"data.amount": {"$lt": 150}}, False),
        ({"data.amount": {"$lte": 150}}, True),
        ({"data.amount": {"$gte": 100, "$lt": 200}}, True),
        ({"data.amount": {"$gte": 100, "$lt": 120}}, False),
        ({"data.mode": {"$in": ["flashcards", "learn", "test", "match"]}}, True),
        ({"data.mode": {"$in": ["test"]}}, False),
        ({"data.mode": {"$nin": ["test"]}}, True),
        ({"data.mode": {"$nin": ["learn"]}}, False),
        ({"data.mode": {"$exists": True}}, True),
        ({"data.mode": {"$exists": False}}, False),
        ({"data.items.1.sku": "B2"}, True),
        ({"data.address": {"city": "Osaka", "zip": "530"}}, True),
        ({"data.address": {"city": "Osaka"}}, False),
        ({"data.tags": ["new", "vip"]}, True),
        ({"data.tags": ["vip", "new"]}, False),
        ({}, True),
        (None, True),
    ],
)
def test_operators(spec: object, expected: bool) -> None:
    assert matches(spec) is expected


def test_several_keys_are_anded() -> None:
    assert matches({"type": "track", "data.mode": "learn"})
    assert not matches({"type": "track", "data.mode": "test"})


def test_logical_operators_nest() -> None:
    spec = {
        "$or": [
            {"data.amount": {"$lt": 10}},
            {"$and": [{"data.mode": "learn"}, {"$not": {"data.flag": False}}]},
        ]
    }
    assert matches(spec)
    assert not matches({"$not": spec})
    assert matches({"$and": [{"type": "track"}, {"$or": [{"user_id": "x"}, {"user_id": "u1"}]}]})


class TestMissingPaths:
    @pytest.mark.parametrize(
        "condition",
        [
            {"$exists": False},
            {"$ne": 1},
            {"$ne": None},
            {"$nin": [1, "a"]},
            {"$not": {"$gt": 1}},
            {"$not": {"$exists": True}},
            {"$not": "x"},
        ],
    )
    def test_only_negative_operators_match(self, condition: object) -> None:
        assert matches({"data.nope": condition})

    @pytest.mark.parametrize(
        "condition",
        [
            None,
            "x",
            {"$eq": None},
            {"$exists": True},
            {"$gt": 0},
            {"$lte": "z"},
            {"$in": [None, 1, "a"]},
            {"$regex": ".*"},
            {"$contains": "a"},
            {"$not": {"$exists": False}},
        ],
    )
    def test_positive_operators_do_not_match(self, condition: object) -> None:
        assert not matches({"data.nope": condition})

    def test_null_is_present(self) -> None:
        assert matches({"data.note": None})
        assert matches({"data.note": {"$exists": True}})
        assert not matches({"data.note": {"$ne": None}})

    def test_path_through_a_scalar_is_missing(self) -> None:
        assert matches({"data.mode.length": {"$exists": False}})
        assert matches({"data.items.9.sku": {"$exists": False}})


class TestTypeMismatches:
    @pytest.mark.parametrize(
        "spec",
        [
            {"data.count_text": 100},
            {"data.count_text": {"$gt": 50}},
            {"data.amount": "150"},
            {"data.amount": {"$gt": "100"}},
            {"data.amount": {"$in": ["150"]}},
            {"data.flag": 1},
            {"data.zero": False},
            {"data.flag": {"$in": [1]}},
            {"data.flag": {"$gt": 0}},
            {"data.address": {"$gt": 1}},
            {"data.tags": {"$gte": "a"}},
            {"data.amount": {"$regex": "150"}},
            {"data.amount": {"$contains": 1}},
        ],
    )
    def test_never_match_and_never_raise(self, spec: object) -> None:
        assert not matches(spec)

    def test_numbers_compare_across_int_and_float(self) -> None:
        assert matches({"data.amount": 150.0})
        assert matches({"data.price": {"$gt": 9}})
        assert matches({"data.amount": {"$in": [150.0]}})
        assert matches({"data.price": {"$lt": 10}})

    def test_booleans_match_booleans(self) -> None:
        assert matches({"data.flag": True})
        assert matches({"data.flag": {"$in": [True]}})
        assert matches({"data.zero": 0})
        assert matches({"data.zero": {"$in": [0]}})
        assert not matches({"data.zero": {"$in": [False]}})

    def test_iso_timestamps_compare_as_strings(self) -> None:
        assert matches({"occurred_at": {"$gte": "2024-05-01", "$lt": "2024-05-02"}})
        assert not matches({"occurred_at": {"$lt": "2024-04-30T23:59:59Z"}})

    def test_yaml_dates_in_the_spec_become_iso_strings(self) -> None:
        assert matches({"occurred_at": {"$gte": date(2024, 5, 1)}})
        assert not matches({"occurred_at": {"$gte": date(2024, 5, 2)}})

    def test_documents_of_any_shape_are_safe(self) -> None:
        for document in ({}, {"data": None}, {"data": "text"}, {"data": [1, 2]}):
            assert not matches({"data.amount": {"$gt": 1}}, document)
            assert matches({"data.amount": {"$exists": False}}, document)


class TestContains:
    def test_substring_of_strings(self) -> None:
        assert matches({"data.email": {"$contains": "@Example"}})
        assert not matches({"data.email": {"$contains": "@example"}})

    def test_member_of_lists(self) -> None:
        assert matches({"data.tags": {"$contains": "vip"}})
        assert not matches({"data.tags": {"$contains": "vi"}})
        assert matches({"data.items": {"$contains": {"sku": "A1"}}})

    def test_eq_on_a_list_does_not_search_it(self) -> None:
        assert not matches({"data.tags": "vip"})
        assert not matches({"data.tags": {"$in": ["vip"]}})


class TestRegex:
    def test_search_is_unanchored(self) -> None:
        assert matches({"data.email": {"$regex": "@Example\\.com$"}})
        assert matches({"data.mode": {"$regex": "ear"}})
        assert not matches({"data.mode": {"$regex": "^ear"}})

    def test_options(self) -> None:
        assert not matches({"data.email": {"$regex": "@example\\.COM$"}})
        assert matches({"data.email": {"$regex": "@example\\.COM$", "$options": "i"}})
        assert matches({"data.email": {"$regex": "(?i)^ann@"}})

    def test_catastrophic_pattern_runs_in_linear_time(self) -> None:
        evil = compile_filter({"x": {"$regex": "^(a+)+$"}})
        assert not evil.matches({"x": "a" * 5000 + "!"})
        nested = compile_filter({"x": {"$regex": ".*a.*a.*a.*b"}})
        assert not nested.matches({"x": "a" * 20000})

    def test_overlong_input_does_not_match(self) -> None:
        spec = compile_filter({"x": {"$regex": "a"}})
        assert spec.matches({"x": "a" * MAX_REGEX_INPUT})
        assert not spec.matches({"x": "a" * (MAX_REGEX_INPUT + 1)})

    def test_unicode(self) -> None:
        assert matches({"x": {"$regex": "^カフェ"}}, {"x": "カフェラテ"})


class TestRoots:
    CONTEXT = {"event": EVENT, "profile": {"traits": {"vip": True}}}

    def test_paths_relative_to_the_default_root(self) -> None:
        compiled = compile_filter(
            {"data.mode": "learn", "profile.traits.vip": True},
            roots={"event", "profile"},
            default_root="event",
        )
        assert compiled.matches(self.CONTEXT)
        assert compiled.paths == {"event.data.mode", "profile.traits.vip"}

    def test_explicit_root(self) -> None:
        compiled = compile_filter({"event.data.mode": "learn"}, roots={"event", "profile"})
        assert compiled.matches(self.CONTEXT)

    def test_unknown_root_is_rejected_without_default(self) -> None:
        with pytest.raises(FilterError, match=r"unknown root 'data' at data.mode"):
            compile_filter({"data.mode": "learn"}, roots={"event", "profile"})


class TestInvalidFilters:
    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ({"data.amount": {"$gtx": 100}}, "unknown operator $gtx at data.amount"),
            ({"data.mode": {"$in": "learn"}}, "$in at data.mode needs a list"),
            ({"data.mode": {"$nin": 3}}, "$nin at data.mode needs a list"),
            ({"x": {"$exists": "yes"}}, "$exists at x needs true or false"),
            ({"x": {"$gt": None}}, "$gt at x needs a number or a string"),
            ({"x": {"$lte": [1]}}, "$lte at x needs a number or a string"),
            ({"x": {"$regex": 3}}, "$regex at x needs a string pattern"),
            ({"x": {"$regex": "(a"}}, "$regex at x has an invalid pattern: missing )"),
            ({"x": {"$regex": "(a)\\1"}}, "no backreferences"),
            ({"x": {"$regex": "a", "$options": "q"}}, "$options must be letters from 'ims'"),
            ({"x": {"$options": "i"}}, "$options at x needs $regex"),
            ({"x": {"$eq": object()}}, "$eq at x needs a JSON value, got object"),
            ({"x": {"$gt": 1, "y": 2}}, "condition at x mixes operators with plain keys"),
            ({"x": {"$or": [{"$gt": 1}]}}, "$or at x is not a field operator"),
            ({"$or": []}, "$or at the top level needs a non-empty list of filters"),
            ({"$and": {"x": 1}}, "$and at the top level needs a non-empty list"),
            ({"$or": [{"x": 1}, 3]}, "a filter must be an object at $or[1]"),
            ({"$and": [{"$or": [{"x": {"$bad": 1}}]}]}, "unknown operator $bad at x"),
            ({"$and": [{"$or": [{"$xor": 1}]}]}, "unknown operator $xor at $and[0].$or[0]"),
            ({"$where": "1"}, "unknown operator $where at the top level"),
            ({"a..b": 1}, "invalid path at a..b"),
            ({1: 2}, "filter key 1 at the top level must be a string"),
            ([{"x": 1}], "a filter must be an object at the top level"),
        ],
    )
    def test_rejected_with_path_and_operator(self, spec: object, message: str) -> None:
        with pytest.raises(FilterError) as raised:
            compile_filter(spec)
        assert message in str(raised.value)

    def test_error_carries_path_and_operator(self) -> None:
        with pytest.raises(FilterError) as raised:
            compile_filter({"data.amount": {"$gtx": 100}})
        assert raised.value.where == "data.amount"
        assert raised.value.operator == "$gtx"

    def test_validate_lists_every_problem(self) -> None:
        problems = validate_filter({"a": {"$gtx": 1}, "b": {"$in": 1}, "c": 1})
        assert [(p.where, p.operator) for p in problems] == [("a", "$gtx"), ("b", "$in")]
        assert validate_filter({"a": 1}) == []

    def test_pattern_length_is_capped(self) -> None:
        assert compile_filter({"x": {"$regex": "a" * MAX_PATTERN_LENGTH}})
        with pytest.raises(FilterError, match="longer than"):
            compile_filter({"x": {"$regex": "a" * (MAX_PATTERN_LENGTH + 1)}})

    def test_nesting_depth_is_capped(self) -> None:
        spec: dict[str, object] = {"x": 1}
        for _ in range(40):
            spec = {"$not": spec}
        with pytest.raises(FilterError, match="nests deeper"):
            compile_filter(spec)


def test_filter_keeps_its_spec() -> None:
    spec = {"data.mode": "learn"}
    compiled = compile_filter(spec)
    assert compiled.spec is spec
    assert "learn" in repr(compiled)
