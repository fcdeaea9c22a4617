"""``renkei syncs list | show | run | runs | quota``.

``renkei syncs run NAME`` queues a run (``--from-start`` forgets the cursor: a backfill) and
follows it with a progress bar until it ends; ``--local`` also works the queue in this
process, for a database no worker serves.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from renkei.cli._common import console, err_console, print_rows, with_hub
from renkei.hub import Hub
from renkei.syncs.model import SyncRun
from renkei.usecases import LOCAL, syncs
from renkei.usecases.paging import every

__all__ = ["syncs_app"]

syncs_app = typer.Typer(
    help="Syncs: records moved between Renkei and a connection.", no_args_is_help=True
)


def _print(payload: Any) -> None:
    console.print(
        orjson.dumps(payload, option=orjson.OPT_INDENT_2, default=str).decode(),
        highlight=False,
        markup=False,
    )


@syncs_app.command("list")
def list_syncs(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every sync, with its trigger and where its cursor stands."""

    async def action(hub: Hub) -> list[dict[str, Any]]:
        found = await every(
            lambda cursor, size: syncs.list_syncs(hub, LOCAL, limit=size, cursor=cursor)
        )
        return [sync.to_dict() for sync in found]

    found = with_hub(action)
    print_rows(
        ["id", "name", "direction", "object", "connection", "trigger"],
        [
            (
                sync["id"],
                sync["name"],
                sync["direction"],
                sync["object"],
                sync["connection"],
                ", ".join(f"{k}={v}" for k, v in sync["trigger"].items()) or "manual",
            )
            for sync in found
        ],
        as_json=as_json,
        objects=found,
        empty="No syncs.",
    )


@syncs_app.command("runs")
def runs(
    name: str,
    limit: int = typer.Option(20, help="how many of the latest runs"),
) -> None:
    """A sync's latest runs with their counts."""

    async def action(hub: Hub) -> list[dict[str, Any]]:
        found = await every(
            lambda cursor, size: syncs.list_runs(hub, LOCAL, name, limit=size, cursor=cursor),
            at_most=limit,
        )
        return [run.to_dict() for run in found]

    _print(with_hub(action))


@syncs_app.command("quota")
def quota(connection: str) -> None:
    """A connection's daily quota as the planner sees it: used, projected, mode."""

    async def action(hub: Hub) -> dict[str, Any]:
        return await syncs.quota(hub, LOCAL, connection)

    _print(with_hub(action))


@syncs_app.command("run")
def run(
    name: str,
    from_start: bool = typer.Option(False, "--from-start", help="a backfill: forget the cursor"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="follow the run until it ends"),
    local: bool = typer.Option(False, "--local", help="work the queue in this process"),
) -> None:
    """Run a sync now (a manual backfill), with a progress bar."""

    async def action(hub: Hub) -> dict[str, Any]:
        started = await syncs.run_sync(hub, LOCAL, name, from_start=from_start)
        if not wait:
            return started.to_dict()
        return (await _follow(hub, started.id, local=local)).to_dict()

    result = with_hub(action)
    _print(result)
    if result["status"] == "failed":
        raise typer.Exit(1)


async def _follow(hub: Hub, run_id: str, *, local: bool) -> SyncRun:
    worker = hub.new_worker(run_schedules=False) if local else None
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        task = progress.add_task(run_id, total=None, counts="")
        while True:
            if worker is not None:
                await worker.run_burst()
            found = await syncs.get_run(hub, LOCAL, run_id)
            counts = found.counts
            progress.update(
                task,
                completed=counts["read"],
                counts=(
                    f"read {counts['read']} · created {counts['created']} · updated "
                    f"{counts['updated']} · skipped {counts['skipped']} · failed {counts['failed']}"
                ),
            )
            if found.status in ("succeeded", "failed"):
                progress.update(task, total=max(counts["read"], 1), completed=counts["read"])
                return found
            await asyncio.sleep(0.5)
