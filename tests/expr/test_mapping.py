from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

import pytest

from renkei.expr import FieldProblem, MappingError, compile_mapping, validate_mapping
from renkei.expr.mapping import CONVERSIONS

PROFILE = {
    "traits": {
        "email": "  Ann@Example.COM ",
        "birthday": "1990/05/04",
        "signed_up": "1700000000",
        "last_seen_ms": 1700000000123,
        "vip": "Yes",
        "score": "42",
        "tags": ["new", "vip"],
        "city": None,
        "leadScore": 99,
        "custom_color": "blue",
    }
}


def convert(value: object, *conversions: Any, **options: Any) -> object:
    rule = {"target": "out", "source": "in", "convert": list(conversions), **options}
    result = compile_mapping([rule]).apply({"in": value})
    assert result.ok, result.problems
    return result.record["out"]


def problem(value: object, *conversions: Any, **options: Any) -> FieldProblem:
    rule = {"target": "out", "source": "in", "convert": list(conversions), **options}
    result = compile_mapping([rule]).apply({"in": value})
    assert "out" not in result.record
    (found,) = result.problems
    return found


def test_marketo_lead_mapping() -> None:
    mapping = compile_mapping(
        {
            "fields": [
                {"target": "email", "source": "traits.email", "convert": ["trim", "lowercase"]},
                {
                    "target": "dateOfBirth",
                    "source": "traits.birthday",
                    "convert": ["to_date"],
                    "format": "%Y/%m/%d",
                },
                {"target": "signedUpAt", "source": "traits.signed_up", "convert": ["to_date"]},
                {"target": "isVip", "source": "traits.vip", "convert": ["to_bool"]},
                {"target": "scoreValue", "source": "traits.score", "convert": ["to_int"]},
                {"target": "source_system", "value": "renkei"},
                {"target": "unsubscribed", "value": False, "when_present": "email"},
                {"copy": "traits"},
                {"target": "email", "source": "traits.email", "convert": ["trim", "lowercase"]},
            ],
            "block": ["leadScore", "birthday", "signed_up", "last_seen_ms", "vip", "score"],
        }
    )
    result = mapping.apply(PROFILE)
    assert result.ok
    assert result.record == {
        "email": "ann@example.com",
        "dateOfBirth": "1990-05-04",
        "signedUpAt": "2023-11-14T22:13:20+00:00",
        "isVip": True,
        "scoreValue": 42,
        "source_system": "renkei",
        "unsubscribed": False,
        "tags": ["new", "vip"],
        "city": None,
        "custom_color": "blue",
    }


class TestRules:
    def test_missing_source_leaves_target_untouched(self) -> None:
        result = compile_mapping([{"target": "a", "source": "nope"}]).apply({})
        assert result.record == {}
        assert result.ok

    def test_later_rules_overwrite_earlier_ones_only_when_present(self) -> None:
        mapping = compile_mapping(
            [{"target": "name", "source": "nickname"}, {"target": "name", "source": "full_name"}]
        )
        assert mapping.apply({"nickname": "Al"}).record == {"name": "Al"}
        assert mapping.apply({"nickname": "Al", "full_name": "Alan"}).record == {"name": "Alan"}

    def test_default_replaces_missing_and_null_unconverted(self) -> None:
        rule = {"target": "d", "source": "x", "convert": ["to_date"], "default": "unknown"}
        mapping = compile_mapping([rule])
        assert mapping.apply({}).record == {"d": "unknown"}
        assert mapping.apply({"x": None}).record == {"d": "unknown"}
        assert mapping.apply({"x": "2024-01-02"}).record == {"d": "2024-01-02"}

    def test_null_passes_through_conversions(self) -> None:
        mapping = compile_mapping([{"target": "d", "source": "x", "convert": ["to_date", "trim"]}])
        result = mapping.apply({"x": None})
        assert result.record == {"d": None}
        assert result.ok

    def test_required_reports_missing_and_null(self) -> None:
        mapping = compile_mapping([{"target": "email", "source": "traits.email", "required": True}])
        missing = mapping.apply({})
        assert missing.problems == (FieldProblem("email", None, None, "traits.email is missing"),)
        assert mapping.apply({"traits": {"email": None}}).problems[0].reason.endswith("is null")

    def test_nested_targets(self) -> None:
        mapping = compile_mapping(
            [
                {"target": "attributes.external_id", "source": "user_id"},
                {"target": "attributes.mode", "value": "learn"},
            ]
        )
        assert mapping.apply({"user_id": "u1"}).record == {
            "attributes": {"external_id": "u1", "mode": "learn"}
        }

    def test_constants_are_copied_per_record(self) -> None:
        mapping = compile_mapping([{"target": "lists", "value": ["a"]}])
        first = mapping.apply({}).record
        first["lists"].append("b")  # type: ignore[attr-defined]
        assert mapping.apply({}).record == {"lists": ["a"]}

    def test_when_present_needs_a_non_null_target(self) -> None:
        mapping = compile_mapping(
            [
                {"target": "unsubscribed", "value": False, "when_present": "email"},
                {"target": "email", "source": "email"},
            ]
        )
        assert mapping.apply({"email": "a@b.c"}).record == {"email": "a@b.c", "unsubscribed": False}
        assert mapping.apply({"email": None}).record == {"email": None}
        assert mapping.apply({}).record == {}

    def test_when_present_on_a_source_rule(self) -> None:
        mapping = compile_mapping(
            [
                {"target": "email", "source": "email"},
                {
                    "target": "optin",
                    "source": "optin",
                    "convert": ["to_bool"],
                    "when_present": "email",
                },
            ]
        )
        assert mapping.apply({"optin": "yes"}).record == {}
        assert mapping.apply({"email": "x", "optin": "yes"}).record == {"email": "x", "optin": True}

    def test_copy_under_a_prefix_with_allowlist(self) -> None:
        mapping = compile_mapping(
            {"fields": [{"copy": "traits", "target": "custom"}], "allow": ["custom.custom_color"]}
        )
        assert mapping.apply(PROFILE).record == {"custom": {"custom_color": "blue"}}

    def test_copy_of_a_non_object_is_a_problem(self) -> None:
        result = compile_mapping([{"copy": "traits"}]).apply({"traits": "text"})
        assert result.record == {}
        assert result.problems[0].reason == "not an object"

    def test_blocklist_is_case_insensitive_and_extended_by_caller(self) -> None:
        mapping = compile_mapping(
            {"fields": [{"copy": "traits"}], "block": ["LEADSCORE"]}, block=["custom_color"]
        )
        record = mapping.apply(PROFILE).record
        assert "leadScore" not in record
        assert "custom_color" not in record
        assert record["vip"] == "Yes"

    def test_targets_lists_explicit_targets(self) -> None:
        mapping = compile_mapping([{"target": "a", "value": 1}, {"copy": "x"}])
        assert mapping.targets == ("a",)


class TestConversions:
    def test_chaining_runs_left_to_right(self) -> None:
        expected = hashlib.sha256(b"ann@example.com").hexdigest()
        assert convert(" Ann@Example.com ", "trim", "lowercase", "sha256") == expected
        assert convert("abc", "md5") == "900150983cd24fb0d6963f7d28e17f72"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("x", "x"),
            (True, "true"),
            (False, "false"),
            (42, "42"),
            (1.5, "1.5"),
            ([1, "a"], '[1,"a"]'),
            ({"a": 1}, '{"a":1}'),
            (date(2024, 1, 2), "2024-01-02"),
        ],
    )
    def test_to_string(self, value: object, expected: str) -> None:
        assert convert(value, "to_string") == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("42", 42), (" -7 ", -7), ("1.5", 1.5), ("1e3", 1000.0), (".5", 0.5), (3, 3), (2.5, 2.5)],
    )
    def test_to_number(self, value: object, expected: object) -> None:
        result = convert(value, "to_number")
        assert result == expected
        assert type(result) is type(expected)

    @pytest.mark.parametrize("value", ["abc", "", "1,000", "nan", "inf", "1e999", True, [1], "١٢"])
    def test_to_number_problems(self, value: object) -> None:
        assert problem(value, "to_number").conversion == "to_number"

    @pytest.mark.parametrize(
        ("value", "expected"), [("42", 42), ("42.0", 42), (7.0, 7), ("1e2", 100)]
    )
    def test_to_int(self, value: object, expected: int) -> None:
        assert convert(value, "to_int") == expected

    @pytest.mark.parametrize("value", ["4.2", 4.5, "x", False])
    def test_to_int_problems(self, value: object) -> None:
        assert problem(value, "to_int").conversion == "to_int"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("true", True),
            ("FALSE", False),
            ("Yes", True),
            ("no", False),
            ("1", True),
            ("0", False),
            ("On", True),
            (" off ", False),
            (True, True),
            (1, True),
            (0, False),
        ],
    )
    def test_to_bool(self, value: object, expected: bool) -> None:
        assert convert(value, "to_bool") is expected

    @pytest.mark.parametrize("value", ["maybe", "", "2", "y", 2, 0.5, [True]])
    def test_to_bool_rejects_anything_else(self, value: object) -> None:
        found = problem(value, "to_bool")
        assert found == FieldProblem("out", value, "to_bool", found.reason)
        assert "yes/no" in found.reason

    @pytest.mark.parametrize(
        ("conversion", "value", "expected"),
        [("lowercase", "AbC", "abc"), ("uppercase", "AbC", "ABC"), ("trim", "  a b ", "a b")],
    )
    def test_string_conversions(self, conversion: str, value: str, expected: str) -> None:
        assert convert(value, conversion) == expected

    @pytest.mark.parametrize("conversion", ["lowercase", "uppercase", "trim", "md5", "sha256"])
    def test_string_conversions_need_strings(self, conversion: str) -> None:
        assert "expected a string, got int" in problem(5, conversion).reason

    def test_join_and_split(self) -> None:
        assert convert(["a", 1, None, True], "join") == "a,1,true"
        assert convert(["a", "b"], {"join": " | "}) == "a | b"
        assert convert(["a", "b"], "join", separator=";") == "a;b"
        assert convert("a, b,,c ", "split") == ["a", "b", "c"]
        assert convert("a;b", {"split": {"separator": ";"}}) == ["a", "b"]
        assert convert("", "split") == []
        assert "expected a list" in problem("a", "join").reason
        assert "expected a string" in problem(["a"], "split").reason

    def test_default_conversion(self) -> None:
        assert convert(None, {"default": "n/a"}) == "n/a"
        assert convert("", {"default": {"value": "n/a"}}) == "n/a"
        assert convert([], {"default": "n/a"}) == "n/a"
        assert convert("x", {"default": "n/a"}) == "x"
        assert convert(0, {"default": 5}) == 0

    def test_failed_step_reports_its_own_input(self) -> None:
        found = problem(" MAYBE ", "trim", "lowercase", "to_bool")
        assert found == FieldProblem("out", "maybe", "to_bool", found.reason)


class TestToDate:
    @pytest.mark.parametrize(
        ("value", "options", "expected"),
        [
            ("1990/05/04", {"format": "%Y/%m/%d"}, "1990-05-04"),
            ("04.05.1990 13:30", {"format": "%d.%m.%Y %H:%M"}, "1990-05-04T13:30:00+00:00"),
            ("2024-01-02", {}, "2024-01-02"),
            ("2024-01-02T03:04:05Z", {}, "2024-01-02T03:04:05+00:00"),
            ("2024-01-02T03:04:05+09:00", {}, "2024-01-02T03:04:05+09:00"),
            ("2024-01-02 03:04:05", {}, "2024-01-02T03:04:05+00:00"),
            (1700000000, {}, "2023-11-14T22:13:20+00:00"),
            ("1700000000", {}, "2023-11-14T22:13:20+00:00"),
            ("1700000000.5", {}, "2023-11-14T22:13:20.500000+00:00"),
            (1700000000123, {}, "2023-11-14T22:13:20.123000+00:00"),
            ("1700000000123", {}, "2023-11-14T22:13:20.123000+00:00"),
            (1700000000, {"unit": "ms"}, "1970-01-20T16:13:20+00:00"),
            (0, {}, "1970-01-01T00:00:00+00:00"),
            (-86400, {}, "1969-12-31T00:00:00+00:00"),
            ("1700000000", {"output": "date"}, "2023-11-14"),
            ("2024-01-02", {"output": "datetime"}, "2024-01-02T00:00:00+00:00"),
            ("2024-01-02", {"output": "unix"}, 1704153600),
            ("2024-01-02T00:00:00.250Z", {"output": "unix_ms"}, 1704153600250),
            ("1990/05/04", {"format": "%Y/%m/%d", "output": "unix"}, 641779200),
            ("1700000000", {"format": "%Y/%m/%d"}, "2023-11-14T22:13:20+00:00"),
            (datetime(2024, 1, 2, 3, tzinfo=UTC), {}, "2024-01-02T03:00:00+00:00"),
            (date(2024, 1, 2), {}, "2024-01-02"),
        ],
    )
    def test_inputs_and_outputs(
        self, value: object, options: dict[str, Any], expected: object
    ) -> None:
        assert convert(value, "to_date", **options) == expected

    def test_options_on_the_conversion(self) -> None:
        assert convert("02/01/2024", {"to_date": "%d/%m/%Y"}) == "2024-01-02"
        spec = {"to_date": {"format": "%d/%m/%Y", "output": "unix"}}
        assert convert("02/01/2024", spec) == 1704153600

    @pytest.mark.parametrize(
        "value", ["yesterday", "2024-13-01", "", True, [2024], "1" * 30, float("nan"), 10**30]
    )
    def test_bad_dates_are_problems(self, value: object) -> None:
        assert problem(value, "to_date").conversion == "to_date"

    def test_format_mismatch_names_the_format(self) -> None:
        reason = problem("04-05-1990", "to_date", format="%Y/%m/%d").reason
        assert "'%Y/%m/%d'" in reason


class TestInvalidSpecs:
    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            (
                [{"target": "x", "source": "a", "convert": ["to_dat"]}],
                "unknown conversion 'to_dat' (known: default, hash_email, hash_phone, join,",
            ),
            (
                [{"target": "x", "source": "a", "convert": ["to_date"], "format": "%Q"}],
                "to_date: bad format '%Q': unknown directive %Q at fields[0].convert[0]",
            ),
            (
                [{"target": "x", "source": "a", "convert": ["to_date"], "format": "plain"}],
                "bad format 'plain'",
            ),
            (
                [{"target": "x", "source": "a", "convert": [{"to_date": {"output": "week"}}]}],
                "to_date: output must be one of auto, date, datetime, unix, unix_ms",
            ),
            ([{"target": "x", "source": "a", "convert": ["to_date"], "unit": "h"}], "unit must be"),
            (
                [{"target": "x", "source": "a", "format": "%Y"}],
                "'format' is not used by any conversion of this rule at fields[0]",
            ),
            (
                [{"target": "x", "source": "a", "convert": [{"join": {"sep": ","}}]}],
                "join: unknown option 'sep'",
            ),
            (
                [{"target": "x", "source": "a", "convert": [{"join": ""}]}],
                "separator must be a non-empty string",
            ),
            (
                [{"target": "x", "source": "a", "convert": [{"trim": True}]}],
                "trim: takes no options",
            ),
            ([{"target": "x", "source": "a", "convert": ["default"]}], "default: needs a value"),
            (
                [{"target": "x", "source": "a", "convert": [{"a": 1, "b": 2}]}],
                "a conversion must be a name or an object with one name",
            ),
            ([{"target": "x", "source": "a", "convert": 3}], "'convert' must be a list"),
            ([{"target": "x", "sorce": "a"}], "unknown key 'sorce' at fields[0]"),
            ([{"target": "x"}], "a rule needs exactly one of 'source', 'value' or 'copy'"),
            ([{"target": "x", "source": "a", "value": 1}], "exactly one of"),
            ([{"source": "a"}], "a rule needs a 'target' at fields[0]"),
            ([{"target": "a..b", "source": "a"}], "has an empty segment at fields[0].target"),
            (
                [{"target": "x", "source": ""}],
                "a path must be a non-empty string, got '' at fields[0].source",
            ),
            (
                [{"target": "x", "value": 1, "convert": ["trim"]}],
                "'convert' only applies to rules with a 'source'",
            ),
            (
                [{"target": "x", "source": "a", "required": "yes"}],
                "'required' must be true or false",
            ),
            (
                [{"target": "x", "value": 1, "when_present": "emial"}],
                "when_present 'emial' is not the target of any rule at fields[0].when_present",
            ),
            (
                {"fields": [{"target": "leadScore", "value": 1}], "block": ["leadscore"]},
                "target 'leadScore' is blocked at fields[0]",
            ),
            (
                {"fields": [{"target": "x", "value": 1}], "allow": ["y"]},
                "target 'x' is not in the allowlist",
            ),
            ({"fields": [], "allow": [], "block": []}, "use either 'allow' or 'block', not both"),
            ({"fields": [], "block": "x"}, "'block' must be a list of field names"),
            ({"fields": {}}, "'fields' must be a list of rules"),
            ({"rules": []}, "unknown key 'rules' at the top level"),
            ("x", "a mapping must be a list of rules or an object"),
            ([3], "a rule must be an object at fields[0]"),
        ],
    )
    def test_rejected_when_saved(self, spec: object, message: str) -> None:
        with pytest.raises(MappingError) as raised:
            compile_mapping(spec)
        assert message in str(raised.value)

    def test_caller_blocklist_is_checked_when_saved(self) -> None:
        with pytest.raises(MappingError, match="target 'Email' is blocked"):
            compile_mapping([{"target": "Email", "source": "email"}], block=["email"])

    def test_validate_lists_every_problem_with_its_location(self) -> None:
        problems = validate_mapping(
            [
                {"target": "a", "source": "x", "convert": ["nope"]},
                {"target": "b", "source": "x"},
                {"target": "c", "source": "x", "convert": ["to_date", "zap"]},
            ]
        )
        assert [p.where for p in problems] == ["fields[0].convert[0]", "fields[2].convert[1]"]
        assert validate_mapping([{"target": "a", "source": "x"}]) == []


def test_every_conversion_is_documented_in_the_registry() -> None:
    assert set(CONVERSIONS) == {
        "to_string",
        "to_number",
        "to_int",
        "to_bool",
        "to_date",
        "lowercase",
        "uppercase",
        "trim",
        "md5",
        "sha256",
        "hash_email",
        "hash_phone",
        "default",
        "join",
        "split",
    }
