"""json_size: the size of a value as compact JSON, refusing what nests too deep or holds a
NUL, whether it takes the one-serialization path (few brackets) or the exact one."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from renkei.events.envelope import MAX_DEPTH, json_size
from renkei.events.errors import NotStorableText, TooDeep


def nested(depth: int, leaf: Any = 1) -> Any:
    """``depth`` levels of objects and arrays in turn (the value itself is level 1)."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


@pytest.mark.parametrize("depth", [1, 2, MAX_DEPTH - 1, MAX_DEPTH])
@pytest.mark.parametrize("brackets_in_strings", [0, 3 * MAX_DEPTH])
def test_sizes_what_nests_up_to_the_limit(depth: int, brackets_in_strings: int) -> None:
    # Brackets inside strings send the value to the exact path; the answer is the same.
    value = nested(depth, leaf="[{" * brackets_in_strings)
    assert json_size(value) == len(orjson.dumps(value))


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 200, 300])
def test_refuses_what_nests_deeper(depth: int) -> None:
    with pytest.raises(TooDeep) as raised:
        json_size(nested(depth), index=4)
    assert raised.value.details == {"max_depth": MAX_DEPTH, "index": 4}


def test_a_lower_limit() -> None:
    assert json_size(nested(3), max_depth=3) == len(orjson.dumps(nested(3)))
    with pytest.raises(TooDeep):
        json_size(nested(4), max_depth=3)


@pytest.mark.parametrize("depth", [1, MAX_DEPTH])
def test_refuses_a_nul_on_either_path(depth: int) -> None:
    with pytest.raises(NotStorableText):
        json_size(nested(depth, leaf="a\x00b"))
    # An escaped backslash before the letters is not a NUL.
    assert json_size(nested(depth, leaf="\\u0000")) == len(orjson.dumps(nested(depth, "\\u0000")))


def test_what_is_not_json_is_not_sized() -> None:
    with pytest.raises(TypeError):
        json_size({"when": object()})
