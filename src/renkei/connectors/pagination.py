"""Paginators: small state machines that say how to ask for the next page.

:func:`paginate` calls ``init_request(params)`` before the first page and
``update_state(body, response)`` after each; while ``has_more`` it calls
``update_request(params)`` to turn the last request's parameters into the next one's.
``params`` are whatever the connector's ``send`` puts on the wire: a query string for
``GET /crm/v3/objects/contacts``, a JSON body for HubSpot's search endpoint.

Paths into a JSON body are dotted: ``"paging.next.after"``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from renkei.connectors.errors import PermanentError

__all__ = [
    "CursorPaginator",
    "LinkHeaderPaginator",
    "OffsetPaginator",
    "PageTokenPaginator",
    "Paginator",
    "paginate",
]


class Paginator:
    has_more: bool = True

    def init_request(self, params: dict[str, Any]) -> None:
        """Set up the first request's parameters (most paginators leave them alone)."""

    def update_state(self, body: Any, response: httpx.Response) -> None:
        """Read where the next page starts from the page just received."""
        raise NotImplementedError

    def update_request(self, params: dict[str, Any]) -> None:
        """Point ``params`` at the next page."""
        raise NotImplementedError


class CursorPaginator(Paginator):
    """An opaque cursor in the body, sent back as a parameter; no cursor means last page.
    HubSpot: ``paging.next.after`` → ``after``."""

    def __init__(self, cursor_path: str = "paging.next.after", param: str = "after") -> None:
        self.cursor_path = cursor_path
        self.param = param
        self.cursor: Any = None

    def update_state(self, body: Any, response: httpx.Response) -> None:
        self.cursor = _dig(body, self.cursor_path)
        self.has_more = self.cursor not in (None, "")

    def update_request(self, params: dict[str, Any]) -> None:
        params[self.param] = self.cursor


class PageTokenPaginator(CursorPaginator):
    """A next-page token plus an optional "more" flag that overrules it. Marketo returns
    ``nextPageToken`` even on the last page of activities, where ``moreResult`` is false; lead
    queries have no flag, and a missing token is the end."""

    def __init__(
        self,
        token_path: str = "nextPageToken",  # noqa: S107 - a JSON path, not a secret
        param: str = "nextPageToken",
        more_path: str | None = "moreResult",
    ) -> None:
        super().__init__(token_path, param)
        self.more_path = more_path

    def update_state(self, body: Any, response: httpx.Response) -> None:
        super().update_state(body, response)
        if self.more_path is not None:
            self.has_more = self.has_more and _dig(body, self.more_path) is not False


class OffsetPaginator(Paginator):
    """Offset and page size as parameters, stopping at the reported total or at a short page.
    Mailchimp: ``offset``/``count`` with ``total_items``."""

    def __init__(
        self,
        limit: int,
        *,
        offset: int = 0,
        offset_param: str = "offset",
        limit_param: str = "count",
        total_path: str | None = "total_items",
        records_path: str | None = None,
    ) -> None:
        self.limit = limit
        self.offset = offset
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.total_path = total_path
        self.records_path = records_path

    def update_state(self, body: Any, response: httpx.Response) -> None:
        self.offset += self.limit
        total = _dig(body, self.total_path) if self.total_path else None
        records = _dig(body, self.records_path) if self.records_path else None
        if isinstance(total, int):
            self.has_more = self.offset < total
        elif isinstance(records, list):
            self.has_more = len(records) >= self.limit
        else:
            raise PermanentError("offset pagination found neither a total nor a page of records")
        if isinstance(records, list) and not records:
            self.has_more = False  # a total that overstates what the vendor will return

    def init_request(self, params: dict[str, Any]) -> None:
        self.update_request(params)

    def update_request(self, params: dict[str, Any]) -> None:
        params[self.offset_param] = self.offset
        params[self.limit_param] = self.limit


class LinkHeaderPaginator(Paginator):
    """RFC 8288 (ex 5988) ``Link: <...>; rel="next"``. The next link's query string replaces
    the parameters; ``next_url`` keeps the whole link for vendors whose path changes too."""

    def __init__(self, rel: str = "next") -> None:
        self.rel = rel
        self.next_url: str | None = None

    def update_state(self, body: Any, response: httpx.Response) -> None:
        link = response.links.get(self.rel)
        self.next_url = link.get("url") if link else None
        self.has_more = bool(self.next_url)

    def update_request(self, params: dict[str, Any]) -> None:
        if self.next_url is None:
            return
        params.clear()
        params.update(parse_qsl(urlsplit(self.next_url).query, keep_blank_values=True))


async def paginate(
    send: Callable[[dict[str, Any]], Awaitable[httpx.Response]],
    paginator: Paginator,
    params: dict[str, Any] | None = None,
    *,
    max_pages: int | None = None,
) -> AsyncIterator[Any]:
    """Yield the JSON body of every page. ``send(params)`` makes one request.

    Raises :class:`PermanentError` if a paginator asks for the same page twice in a row
    (a vendor cursor that stopped moving would otherwise loop forever).
    """
    params = dict(params or {})
    paginator.init_request(params)
    pages = 0
    while True:
        response = await send(dict(params))
        body = response.json()
        pages += 1
        paginator.update_state(body, response)
        yield body
        if not paginator.has_more or (max_pages is not None and pages >= max_pages):
            return
        before = dict(params)
        paginator.update_request(params)
        if params == before:
            raise PermanentError("pagination did not advance: the next page is the same page")


def _dig(body: Any, path: str | None) -> Any:
    if path is None:
        return None
    for key in path.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body
