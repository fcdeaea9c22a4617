from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renkei.expr import TemplateError, compile_template

names = st.from_regex(r"v_[a-z0-9_]{0,10}", fullmatch=True)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**9), 10**9),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=10),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
template_pieces = st.lists(
    st.sampled_from(
        [
            "{{",
            "}}",
            "{%",
            "%}",
            " if ",
            " endif ",
            " for ",
            " in ",
            "x",
            " | ",
            "upcase",
            "json",
            "'",
            '"',
            ".",
            "[",
            "]",
            "1",
            "(1..3)",
            " assign ",
            "=",
            "\n",
            "{",
            "}",
        ]
    ),
    max_size=12,
).map("".join)


@given(names.map(lambda name: f"no{name}"))
def test_unknown_filters_are_rejected_when_saved(name: str) -> None:
    with pytest.raises(TemplateError, match=f"unknown filter '{name}'"):
        compile_template(f"{{{{ value | {name} }}}}", "text")


@given(template_pieces, st.dictionaries(names, json_values, max_size=3), st.booleans())
def test_any_source_fails_only_with_template_errors(
    source: str, context: dict[str, Any], strict: bool
) -> None:
    for fmt in ("json", "text"):
        try:
            template = compile_template(source, fmt, strict=strict)  # type: ignore[arg-type]
            template.render(context)
        except TemplateError as exc:
            assert exc.message


@given(names, st.text(max_size=10))
def test_strict_mode_names_the_missing_variable(name: str, value: str) -> None:
    template = compile_template(f"{{{{ {name} }}}}", "text", strict=True)
    assert template.render({name: value}) == value
    with pytest.raises(TemplateError, match=f"'{name}' is undefined"):
        template.render({f"{name}_other": value})


@given(st.text(max_size=30))
def test_any_text_is_safe_inside_a_json_string(value: str) -> None:
    template = compile_template('{"value": "{{ value }}", "key_{{ value }}": 1}')
    assert template.render({"value": value}) == {"value": value, f"key_{value}": 1}


@given(json_values)
def test_json_filter_round_trips(value: Any) -> None:
    template = compile_template('{"value": {{ value | json }}}')
    assert template.render({"value": value}) == {"value": value}
