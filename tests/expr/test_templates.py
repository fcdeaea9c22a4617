from __future__ import annotations

from typing import Any

import pytest

from renkei.expr import TemplateError, compile_template
from renkei.expr.templates import MAX_LOOP_ITERATIONS, MAX_OUTPUT_BYTES, MAX_SOURCE_CHARS

CONTEXT: dict[str, Any] = {
    "event": {
        "user_id": "u-1",
        "data": {"properties": {"mode": "learn"}, "amount": 150, "items": [{"sku": "A1"}]},
    },
    "profile": {"name": 'Ann "the" O\\Neil\n', "vip": True, "tags": ["a", "b"]},
}


def render(source: str, context: object = CONTEXT, **options: object) -> object:
    return compile_template(source, **options).render(context)  # type: ignore[arg-type]


def render_error(source: str, context: object = CONTEXT, **options: object) -> TemplateError:
    template = compile_template(source, **options)  # type: ignore[arg-type]
    with pytest.raises(TemplateError) as raised:
        template.render(context)  # type: ignore[arg-type]
    return raised.value


def compile_error(source: str, **options: object) -> TemplateError:
    with pytest.raises(TemplateError) as raised:
        compile_template(source, **options)  # type: ignore[arg-type]
    return raised.value


class TestJson:
    def test_braze_body_from_the_design(self) -> None:
        source = """
        {"attributes": [{"external_id": "{{ event.user_id }}",
                         "used_{{ event.data.properties.mode }}": true}]}
        """
        assert render(source) == {"attributes": [{"external_id": "u-1", "used_learn": True}]}

    def test_values_inside_json_strings_are_escaped(self) -> None:
        assert render('{"name": "{{ profile.name }}"}') == {"name": CONTEXT["profile"]["name"]}
        assert render('{"x": "{{ v }}"}', {"v": '</script>\u2028\t"}'}) == {
            "x": '</script>\u2028\t"}'
        }

    def test_json_filter_emits_whole_values(self) -> None:
        source = (
            '{"name": {{ profile.name | json }}, "vip": {{ profile.vip | json }},'
            ' "tags": {{ profile.tags | json }}, "items": {{ event.data.items | json }},'
            ' "amount": {{ event.data.amount | json }}, "nothing": {{ nope | json }}}'
        )
        assert render(source) == {
            "name": CONTEXT["profile"]["name"],
            "vip": True,
            "tags": ["a", "b"],
            "items": [{"sku": "A1"}],
            "amount": 150,
            "nothing": None,
        }

    def test_numbers_can_be_written_bare(self) -> None:
        assert render('{"amount": {{ event.data.amount | plus: 1 }}}') == {"amount": 151}

    def test_echo_is_escaped_too(self) -> None:
        assert render('{"a": "{% echo v %}", "b": "{% liquid echo v %}"}', {"v": 'x"y'}) == {
            "a": 'x"y',
            "b": 'x"y',
        }

    def test_control_flow(self) -> None:
        source = (
            '{"skus": [{% for item in event.data.items %}"{{ item.sku }}"'
            "{% unless forloop.last %},{% endunless %}{% endfor %}],"
            ' "tier": "{% if event.data.amount >= 100 %}gold{% else %}basic{% endif %}"}'
        )
        assert render(source) == {"skus": ["A1"], "tier": "gold"}

    def test_invalid_json_names_line_and_column(self) -> None:
        error = render_error('{\n  "a": {{ missing }}\n}')
        assert "rendered JSON is invalid" in str(error)
        assert (error.line, error.column) == (3, 1)
        assert "(line 3, column 1)" in str(error)

    def test_unquoted_string_is_invalid_json(self) -> None:
        error = render_error('{"a": {{ event.user_id }}}')
        assert error.line == 1

    def test_render_text_shows_the_raw_output(self) -> None:
        template = compile_template('{"a": {{ missing }}}')
        assert template.render_text({}) == '{"a": }'

    def test_json_filter_rejects_nan(self) -> None:
        error = render_error("{{ x | json }}", {"x": float("nan")})
        assert "json:" in error.message


class TestText:
    def test_renders_text_without_escaping(self) -> None:
        template = compile_template('Hi {{ profile.name | strip }} "{{ event.user_id }}"', "text")
        assert template.render(CONTEXT) == 'Hi Ann "the" O\\Neil "u-1"'

    def test_line_endings_are_kept(self) -> None:
        source = "{{ a }}|{% capture c %}{{ a }}{% endcapture %}{{ c }}"
        assert render(source, {"a": "x\r\ny\rz"}, format="text") == "x\r\ny\rz|x\r\ny\rz"

    def test_missing_variables_render_empty_by_default(self) -> None:
        assert render("[{{ nope.deeper }}]", format="text") == "[]"

    def test_json_filter_in_text(self) -> None:
        assert render("{{ profile.tags | json }}", format="text") == '["a","b"]'.replace(",", ", ")


class TestStrict:
    def test_missing_variable_is_an_error(self) -> None:
        error = render_error("Hi {{ profile.nickname }}", format="text", strict=True)
        assert "profile.nickname is undefined" in error.message
        assert (error.line, error.column) == (1, 7)

    def test_missing_variable_in_json_filter(self) -> None:
        error = render_error('{"a": {{ nope | json }}}', strict=True)
        assert "undefined" in error.message

    def test_tests_and_defaults_still_work(self) -> None:
        source = (
            '{% if profile.nickname %}x{% else %}y{% endif %}-{{ profile.nickname | default: "z" }}'
        )
        assert render(source, format="text", strict=True) == "y-z"

    def test_present_values_render(self) -> None:
        assert render("{{ event.user_id }}", format="text", strict=True) == "u-1"


class TestCompileErrors:
    @pytest.mark.parametrize(
        ("source", "message", "line", "column"),
        [
            ("{{ name | shout }}", "unknown filter 'shout'", 1, 11),
            ("a\n{% if x %}{{ y | nope: 1 }}{% endif %}", "unknown filter 'nope'", 2, 18),
            ("{{ name | }", "expected '}}'", 1, 1),
            ("{% if x %}unclosed", "expected tag endif", None, None),
            ("{% frobnicate %}", "unexpected tag 'frobnicate'", 1, 4),
            ("{% include 'secrets' %}", "unexpected tag 'include'", 1, 4),
            ("{% render 'x' %}", "unexpected tag 'render'", 1, 4),
        ],
    )
    def test_rejected_when_saved(
        self, source: str, message: str, line: int | None, column: int | None
    ) -> None:
        error = compile_error(source)
        assert message in error.message
        assert (error.line, error.column) == (line, column)

    def test_source_size_is_bounded(self) -> None:
        assert "longer than" in compile_error("x" * (MAX_SOURCE_CHARS + 1)).message

    def test_unknown_format(self) -> None:
        assert "unknown template format 'xml'" in compile_error("x", format="xml").message

    def test_source_must_be_text(self) -> None:
        with pytest.raises(TemplateError):
            compile_template(3)  # type: ignore[arg-type]


class TestRenderErrors:
    def test_filter_errors_are_template_errors(self) -> None:
        error = render_error("{{ 1 | divided_by: 0 }}", format="text")
        assert "divide by 0" in error.message

    def test_output_size_is_bounded(self) -> None:
        source = "{% for i in (1..2000) %}" + "x" * (MAX_OUTPUT_BYTES // 1000) + "{% endfor %}"
        assert "output stream limit" in render_error(source, format="text").message

    def test_nested_loops_are_bounded(self) -> None:
        source = "{% for i in (1..1000) %}{% for j in (1..1000) %}{% endfor %}{% endfor %}"
        assert "loop iteration limit" in render_error(source, format="text").message

    def test_sequential_loops_are_bounded_together(self) -> None:
        half = MAX_LOOP_ITERATIONS // 2 + 1
        loop = f"{{% for i in (1..{half}) %}}{{% endfor %}}"
        assert render(loop, format="text") == ""
        error = render_error(loop + loop, format="text")
        assert f"more than {MAX_LOOP_ITERATIONS} loop iterations" in error.message

    def test_huge_ranges_are_refused_by_filters(self) -> None:
        error = render_error('{{ (1..100000000) | join: "," }}', format="text")
        assert "range longer than" in error.message
        assert render('{{ (1..3) | join: "," }}', format="text") == "1,2,3"

    def test_growing_variables_are_bounded(self) -> None:
        source = (
            '{% assign s = "xxxxxxxxxx" %}'
            "{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}"
        )
        assert "namespace limit" in render_error(source, format="text").message

    def test_templates_are_reusable(self) -> None:
        template = compile_template('{"n": {{ n }}}')
        assert [template.render({"n": n}) for n in range(3)] == [{"n": 0}, {"n": 1}, {"n": 2}]
