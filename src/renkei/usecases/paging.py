"""One page of a list, as every door shows it: the items and the cursor of the next page.

A cursor is opaque to the caller (base64 of the last item's position); the API passes it
in ``?cursor=``, the dashboard in its links, the CLI follows it to the end.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson

from renkei.errors import RenkeiError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from renkei.store import Database

__all__ = [
    "MAX_LIMIT",
    "Listed",
    "clamp_limit",
    "decode_cursor",
    "encode_cursor",
    "every",
    "read_page",
]

T = TypeVar("T")

MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Listed(Generic[T]):
    items: list[T]
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def cut(cls, found: Sequence[T], size: int, position: Callable[[T], Any]) -> Listed[T]:
        """The first ``size`` of ``found`` (fetched ``size + 1``: one more means a next page)."""
        items = list(found[:size])
        more = len(found) > size and bool(items)
        return cls(items, encode_cursor(position(items[-1])) if more else None)


def encode_cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    if not cursor:
        return None
    try:
        return orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise RenkeiError("cursor is not valid", code="invalid_cursor") from exc


def clamp_limit(limit: int | None, default: int = 50) -> int:
    if limit is None:
        return default
    if limit < 1 or limit > MAX_LIMIT:
        raise RenkeiError(f"limit must be between 1 and {MAX_LIMIT}", code="invalid_limit")
    return limit


async def read_page(
    database: Database,
    fetch: Callable[[AsyncConnection, int, str | None], Awaitable[Sequence[T]]],
    position: Callable[[T], str],
    *,
    limit: int | None,
    cursor: str | None,
) -> Listed[T]:
    """One page of a list ordered by a string key: ``fetch(reader, size + 1, from_key)``
    reads past the cursor's key (the key ``position`` gives of the page's last item)."""
    size = clamp_limit(limit)
    from_key = decode_cursor(cursor)
    async with database.read() as reader:
        found = await fetch(reader, size + 1, str(from_key) if from_key is not None else None)
    return Listed.cut(found, size, position)


async def every(
    page: Callable[[str | None, int], Awaitable[Listed[T]]], *, at_most: int | None = None
) -> list[T]:
    """The items page after page, to the end or ``at_most`` of them (the CLI's lists)."""
    items: list[T] = []
    cursor: str | None = None
    while at_most is None or len(items) < at_most:
        size = MAX_LIMIT if at_most is None else min(MAX_LIMIT, at_most - len(items))
        listed = await page(cursor, size)
        items.extend(listed.items)
        if listed.next_cursor is None:
            break
        cursor = listed.next_cursor
    return items
