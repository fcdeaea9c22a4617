"""Lists paged by their id through ``paging.read_page``: privacy requests, suppressions and
connections, page after page of one, every item once and in order."""

from __future__ import annotations

from typing import Any

from renkei.usecases import connections, privacy
from renkei.usecases.paging import every
from tests.usecases.actors import READER, WRITER, local_hub


async def test_each_list_pages_to_its_end(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        for n in range(3):
            await privacy.request_deletion(hub, WRITER, user_id=f"paged-{n}")
            await privacy.suppress(hub, WRITER, kind="user_id", value=f"paged-{n}")
            await connections.create_connection(
                hub,
                WRITER,
                name=f"paged-{n}",
                connector="marketo",
                config={"base_url": "https://123-abc-456.mktorest.com"},
                credentials={"client_id": "id", "client_secret": "secret"},
            )

        async def ids(lister: Any) -> list[str]:
            items = await every(lambda cursor, size: lister(hub, READER, limit=1, cursor=cursor))
            return [item.id for item in items]

        requests = await ids(privacy.list_requests)
        suppressions = await ids(privacy.list_suppressions)
        connection_ids = await ids(connections.list_connections)
    assert len(requests) == 3 and requests == sorted(requests, reverse=True)  # newest first
    assert len(suppressions) == 3 and len(set(suppressions)) == 3
    assert len(connection_ids) == 3 and connection_ids == sorted(connection_ids)
