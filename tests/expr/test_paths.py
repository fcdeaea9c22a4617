from __future__ import annotations

import pytest

from renkei.expr import MISSING, PathError, compile_path, get_path, parse_path, set_path

DOC = {
    "data": {"properties": {"mode": "learn"}, "n": None, "flag": False},
    "items": [{"sku": "A1"}, {"sku": "B2"}],
    "by_index": {"0": "zero"},
    "text": "abc",
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data.properties.mode", "learn"),
        ("items.0.sku", "A1"),
        ("items.1.sku", "B2"),
        ("items.-1.sku", "B2"),
        ("by_index.0", "zero"),
        ("data.n", None),
        ("data.flag", False),
        ("items", DOC["items"]),
    ],
)
def test_lookup_finds_values(path: str, expected: object) -> None:
    assert get_path(DOC, path) == expected
    assert compile_path(path)(DOC) == expected


@pytest.mark.parametrize(
    "path",
    ["data.nope", "items.2.sku", "items.x", "text.0", "data.n.deeper", "data.flag.x", "nope"],
)
def test_lookup_that_cannot_be_followed_is_missing(path: str) -> None:
    assert get_path(DOC, path) is MISSING


def test_missing_is_falsy_and_not_none() -> None:
    assert not MISSING
    assert MISSING is not None
    assert repr(MISSING) == "MISSING"


def test_lookup_on_non_container_documents_is_missing() -> None:
    assert get_path(None, "a") is MISSING
    assert get_path(42, "a.b") is MISSING
    assert get_path([1, 2], "1") == 2


@pytest.mark.parametrize("path", ["", ".", "a.", ".a", "a..b"])
def test_malformed_paths_are_rejected(path: str) -> None:
    with pytest.raises(PathError):
        parse_path(path)


def test_non_string_path_is_rejected() -> None:
    with pytest.raises(PathError):
        parse_path(3)  # type: ignore[arg-type]


def test_set_path_creates_nested_objects() -> None:
    record: dict[str, object] = {"a": 1}
    set_path(record, "attributes.city", "Tokyo")
    set_path(record, "attributes.zip", "100")
    set_path(record, "a.b", 2)
    assert record == {"a": {"b": 2}, "attributes": {"city": "Tokyo", "zip": "100"}}
