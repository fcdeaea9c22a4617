"""``renkei violations``: what tracked events did against the tracking plan."""

from __future__ import annotations

from typing import Any

import typer

from renkei.cli._common import print_rows, with_hub
from renkei.hub import Hub
from renkei.usecases import LOCAL, violations
from renkei.usecases.paging import every

__all__ = ["violations_command"]


def violations_command(
    source: str | None = typer.Option(None, help="Only this source (id or name)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Tracking plan violations by source, event and problem, latest first."""

    async def run(hub: Hub) -> list[dict[str, Any]]:
        found = await every(
            lambda cursor, size: violations.list_violations(
                hub, LOCAL, source=source, limit=size, cursor=cursor
            )
        )
        return [violation.to_dict() for violation in found]

    found = sorted(with_hub(run), key=lambda row: row["last_seen"], reverse=True)
    rows = [
        [
            row["event_name"] if row["event_type"] == "track" else row["event_type"],
            row["problem"],
            row["path"],
            row["action"],
            str(row["count"]),
            row["last_seen"],
            row["message"],
        ]
        for row in found
    ]
    print_rows(
        ["event", "problem", "path", "action", "count", "last seen", "message"],
        rows,
        as_json=as_json,
        objects=found,
        empty="No violations.",
    )
