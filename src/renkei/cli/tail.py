"""``renkei tail``: print events as they arrive, optionally filtered by type or source.

It polls the event log by ``seq``. With many writers, transactions can commit out of
``seq`` order (several API nodes, publishing beside ingest), so each poll also looks back
over the last few hundred positions for rows that appeared late; with a single writer
(``Database.single_writer``) commits are serial.
"""

from __future__ import annotations

from typing import Any

import orjson
import typer

from renkei.cli._common import console, with_hub
from renkei.events.history import EventQuery, event_dict, latest_seq, list_events
from renkei.hub import Hub

__all__ = ["format_line", "tail"]

_BATCH = 500
_LOOKBACK = 200


def format_line(event: dict[str, Any]) -> str:
    who = event["user_id"] or event["anonymous_id"] or event["email"] or "-"
    name = f"  {event['name']}" if event["name"] else ""
    return (
        f"{event['received_at']}  {event['type']}{name}  {who}  "
        f"{event['source_id'] or '-'}  {event['id']}"
    )


def tail(
    types: list[str] = typer.Option(
        [], "--type", "-t", help="Only these types (repeat, or comma-separate)."
    ),
    source: str | None = typer.Option(None, "--source", help="Only events of this source id."),
    last: int = typer.Option(0, "--last", "-n", min=0, help="First print the last N events."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    follow: bool = typer.Option(True, "--follow/--no-follow", help="Keep printing new events."),
    interval: float = typer.Option(0.5, min=0.05, help="Seconds between polls."),
    max_events: int | None = typer.Option(
        None, "--max-events", min=1, help="Exit after printing this many events."
    ),
) -> None:
    """Print events live as they arrive."""
    wanted = [part.strip() for value in types for part in value.split(",") if part.strip()]

    def show(row: Any) -> None:
        event = event_dict(row)
        if as_json:
            console.print(orjson.dumps(event).decode(), highlight=False, markup=False)
        else:
            console.print(format_line(event), highlight=False, markup=False)

    async def run(hub: Hub) -> None:
        def query(**options: Any) -> EventQuery:
            return EventQuery(types=wanted, source_id=source, **options)

        printed = 0
        async with hub.database.read() as connection:
            cursor = await latest_seq(connection)
            if last:
                for row in reversed(await list_events(connection, query(limit=last))):
                    show(row)
                    printed += 1
        if max_events is not None and printed >= max_events:
            return
        start, seen = cursor, set[int]()
        while follow:
            async with hub.database.read() as connection:
                rows = await list_events(
                    connection, query(after_seq=cursor, limit=_BATCH, oldest_first=True)
                )
                if not hub.database.single_writer:
                    floor = max(start, cursor - _LOOKBACK)
                    late = await list_events(
                        connection, query(after_seq=floor, limit=_LOOKBACK, oldest_first=True)
                    )
                    rows = [row for row in late if row.seq <= cursor] + rows
            fresh = [row for row in rows if row.seq not in seen]
            for row in sorted(fresh, key=lambda found: found.seq):
                show(row)
                seen.add(row.seq)
                cursor = max(cursor, row.seq)
                printed += 1
                if max_events is not None and printed >= max_events:
                    return
            seen = {seq for seq in seen if seq > cursor - _LOOKBACK}
            if not fresh:
                await hub.clock.sleep(interval)

    with_hub(run)
