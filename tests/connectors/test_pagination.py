from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from renkei.connectors import (
    ConnectorHTTP,
    ConnectorMetrics,
    CursorPaginator,
    LinkHeaderPaginator,
    OffsetPaginator,
    PageTokenPaginator,
    Paginator,
    PermanentError,
    paginate,
)

from .conftest import make_http

RECORDS = [{"id": i} for i in range(23)]


def _window(start: int, size: int) -> tuple[list[dict[str, int]], int | None]:
    page = RECORDS[start : start + size]
    end = start + len(page)
    return page, (end if end < len(RECORDS) else None)


async def hubspot_list(request: Request) -> JSONResponse:
    start = int(request.query_params.get("after", "0"))
    page, after = _window(start, int(request.query_params["limit"]))
    body: dict[str, Any] = {"results": page}
    if after is not None:
        body["paging"] = {"next": {"after": str(after), "link": "ignored"}}
    return JSONResponse(body)


async def hubspot_search(request: Request) -> JSONResponse:
    query = await request.json()
    page, after = _window(int(query.get("after", 0)), query["limit"])
    body: dict[str, Any] = {"total": len(RECORDS), "results": page}
    if after is not None:
        body["paging"] = {"next": {"after": str(after)}}
    return JSONResponse(body)


async def marketo_activities(request: Request) -> JSONResponse:
    # Marketo keeps returning a nextPageToken on the last page; moreResult says it's over.
    token = request.query_params["nextPageToken"]
    start = 0 if token == "start" else int(token.removeprefix("tok"))
    page, after = _window(start, 5)
    end = start + len(page)
    return JSONResponse(
        {
            "success": True,
            "result": page,
            "nextPageToken": f"tok{end}",
            "moreResult": after is not None,
        }
    )


async def marketo_leads(request: Request) -> JSONResponse:
    start = int(request.query_params.get("nextPageToken", "0"))
    page, after = _window(start, int(request.query_params["batchSize"]))
    body: dict[str, Any] = {"success": True, "result": page}
    if after is not None:
        body["nextPageToken"] = str(after)
    return JSONResponse(body)


async def mailchimp_members(request: Request) -> JSONResponse:
    offset, count = int(request.query_params["offset"]), int(request.query_params["count"])
    return JSONResponse({"members": RECORDS[offset : offset + count], "total_items": len(RECORDS)})


async def link_items(request: Request) -> JSONResponse:
    page_no, per_page = int(request.query_params.get("page", "1")), 5
    page, after = _window((page_no - 1) * per_page, per_page)
    headers = {}
    if after is not None:
        base = str(request.url.replace(query=""))
        headers["Link"] = (
            f'<{base}?page=1&per_page=5>; rel="first", '
            f'<{base}?page={page_no + 1}&per_page=5>; rel="next"'
        )
    return JSONResponse(page, headers=headers)


async def stuck(request: Request) -> JSONResponse:
    return JSONResponse({"results": [{"id": 0}], "paging": {"next": {"after": "same"}}})


@pytest.fixture
async def http(serve: Callable[[ASGIApp], str], metrics: ConnectorMetrics) -> Any:
    app = Starlette(
        routes=[
            Route("/hubspot/contacts", hubspot_list),
            Route("/hubspot/search", hubspot_search, methods=["POST"]),
            Route("/marketo/activities", marketo_activities),
            Route("/marketo/leads", marketo_leads),
            Route("/mailchimp/members", mailchimp_members),
            Route("/items", link_items),
            Route("/stuck", stuck),
        ]
    )
    async with make_http(serve(app), metrics) as client:
        yield client


def getter(http: ConnectorHTTP, path: str) -> Callable[[dict[str, Any]], Any]:
    async def send(params: dict[str, Any]) -> httpx.Response:
        return await http.request("GET", path, operation="list", params=params)

    return send


async def collect(
    send: Callable[[dict[str, Any]], Any],
    paginator: Paginator,
    records: Callable[[Any], list[dict[str, int]]],
    params: dict[str, Any] | None = None,
) -> list[int]:
    ids: list[int] = []
    async for body in paginate(send, paginator, params):
        ids += [r["id"] for r in records(body)]
    return ids


EVERY_ID = list(range(len(RECORDS)))


async def test_cursor_in_body_hubspot(http: ConnectorHTTP) -> None:
    ids = await collect(
        getter(http, "/hubspot/contacts"), CursorPaginator(), lambda b: b["results"], {"limit": 5}
    )
    assert ids == EVERY_ID


async def test_cursor_sent_in_json_body_hubspot_search(http: ConnectorHTTP) -> None:
    async def search(params: dict[str, Any]) -> httpx.Response:
        return await http.request("POST", "/hubspot/search", operation="search", json=params)

    ids = await collect(search, CursorPaginator(), lambda b: b["results"], {"limit": 4})
    assert ids == EVERY_ID


async def test_next_page_token_with_more_result_marketo_activities(
    http: ConnectorHTTP,
) -> None:
    ids = await collect(
        getter(http, "/marketo/activities"),
        PageTokenPaginator(),
        lambda b: b["result"],
        {"nextPageToken": "start"},
    )
    assert ids == EVERY_ID


async def test_next_page_token_without_flag_marketo_leads(http: ConnectorHTTP) -> None:
    ids = await collect(
        getter(http, "/marketo/leads"),
        PageTokenPaginator(),
        lambda b: b["result"],
        {"batchSize": 6},
    )
    assert ids == EVERY_ID


async def test_offset_and_count_with_total_mailchimp(http: ConnectorHTTP) -> None:
    ids = await collect(
        getter(http, "/mailchimp/members"), OffsetPaginator(limit=10), lambda b: b["members"]
    )
    assert ids == EVERY_ID


async def test_offset_stops_at_short_page_without_total(http: ConnectorHTTP) -> None:
    paginator = OffsetPaginator(limit=10, total_path=None, records_path="members")
    ids = await collect(getter(http, "/mailchimp/members"), paginator, lambda b: b["members"])
    assert ids == EVERY_ID


async def test_link_header_rel_next(http: ConnectorHTTP) -> None:
    ids = await collect(getter(http, "/items"), LinkHeaderPaginator(), lambda b: b)
    assert ids == EVERY_ID


async def test_a_cursor_that_stops_moving_is_an_error(http: ConnectorHTTP) -> None:
    with pytest.raises(PermanentError, match="did not advance"):
        await collect(getter(http, "/stuck"), CursorPaginator(), lambda b: b["results"])


async def test_max_pages(http: ConnectorHTTP) -> None:
    pages = [
        body
        async for body in paginate(
            getter(http, "/hubspot/contacts"), CursorPaginator(), {"limit": 5}, max_pages=2
        )
    ]
    assert [r["id"] for body in pages for r in body["results"]] == list(range(10))
