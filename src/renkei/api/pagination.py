"""Cursor pagination: ``?limit=&cursor=`` in, ``{"data": [...], "next_cursor": ...}`` out.

The cursor and the limit are the use cases' (:mod:`renkei.usecases.paging`): the API,
the CLI and the dashboard page alike.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

from renkei.usecases.paging import MAX_LIMIT, clamp_limit, decode_cursor, encode_cursor

__all__ = ["MAX_LIMIT", "Page", "clamp_limit", "decode_cursor", "encode_cursor"]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = None
