"""``renkei tail``: print events as they arrive, optionally filtered by type or source
(``renkei.usecases.events.follow_events``: how the log is polled)."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import orjson
import typer

from renkei.cli._common import console, with_hub
from renkei.hub import Hub
from renkei.usecases import LOCAL, events

__all__ = ["format_line", "tail"]


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

    async def run(hub: Hub) -> None:
        printed = 0
        arriving = events.follow_events(
            hub, LOCAL, types=wanted, source_id=source, last=last, follow=follow, interval=interval
        )
        async with aclosing(arriving):
            async for event in arriving:
                if as_json:
                    console.print(orjson.dumps(event).decode(), highlight=False, markup=False)
                else:
                    console.print(format_line(event), highlight=False, markup=False)
                printed += 1
                if max_events is not None and printed >= max_events:
                    return

    with_hub(run)
