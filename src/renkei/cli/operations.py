"""Run it again from the command line: ``renkei flows rerun``, ``renkei deliveries resend
--filter …``, ``renkei replay --endpoint|--flow … --since …`` and ``renkei jobs dead|retry``.

A bulk command starts its operation through the use case, as the API does, then works it in
this process with a progress bar (a ``renkei serve`` worker taking the same operation's job
meanwhile only takes turns with it); ``--json`` prints the finished operation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from renkei.cli._common import CliError, console, err_console, print_json, print_rows, with_hub
from renkei.events.envelope import parse_timestamp
from renkei.hub import Hub
from renkei.operations import Operation
from renkei.usecases import LOCAL, jobs, operations
from renkei.usecases.paging import every

__all__ = ["flows_rerun", "jobs_app", "replay", "resend_by_filter"]

VIA = "cli"
RESEND_KEYS = ("endpoint", "event_type", "status", "since", "until")

jobs_app = typer.Typer(help="The queue's dead jobs.", no_args_is_help=True)


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        raise CliError(f"{option} is not a timestamp (ISO 8601 or unix seconds): {value}")
    return parsed


def _follow(
    start: Callable[[Hub], Awaitable[tuple[Operation, bool]]], label: str, as_json: bool
) -> None:
    """Start an operation, work it here with a progress bar, print how it ended."""

    async def run(hub: Hub) -> Operation:
        operation, _ = await start(hub)  # refused before any bar is drawn
        with Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            console=err_console,
            disable=as_json,
        ) as progress:
            task = progress.add_task(label, total=operation.total)

            def step(now: Operation) -> None:
                progress.update(task, completed=now.done, total=now.total)

            return await operations.work_operation(hub, LOCAL, operation.id, step)

    finished = with_hub(run)
    if as_json:
        print_json(finished.to_dict())
        return
    console.print(
        f"{finished.id} {finished.status}: {finished.done} of {finished.total} handled, "
        f"{finished.skipped} skipped, {finished.failed} failed"
    )


def resend_by_filter(filters: Sequence[str], as_json: bool) -> None:
    """``renkei deliveries resend --filter endpoint=crm --filter status=failed ...``"""
    given: dict[str, list[str]] = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or key not in RESEND_KEYS:
            raise CliError(f"--filter takes KEY=VALUE with KEY among {', '.join(RESEND_KEYS)}")
        given.setdefault(key, []).append(value)

    def one(key: str) -> str | None:
        values = given.get(key)
        return values[-1] if values else None

    async def start(hub: Hub) -> tuple[Operation, bool]:
        return await operations.resend_deliveries(
            hub,
            LOCAL,
            endpoint_id=one("endpoint"),
            event_type=one("event_type"),
            status=given.get("status"),
            since=_when(one("since"), "since"),
            until=_when(one("until"), "until"),
            via=VIA,
            by_name=True,
        )

    _follow(start, "resending", as_json)


def flows_rerun(
    run_id: str | None = typer.Argument(None, help="One run's id (else: every run picked)."),
    flow: str | None = typer.Option(None, "--flow", help="Flow id or name."),
    status: list[str] = typer.Option(
        [], "--status", help="failed (default), stopped, skipped; repeatable."
    ),
    since: str | None = typer.Option(None, help="Runs started at or after."),
    until: str | None = typer.Option(None, help="Runs started before."),
    version: str = typer.Option("original", help="original (as it ran) or current."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Run flow runs again from the start: one (RUN_ID, with --flow) or many by a filter."""
    if run_id is not None:
        if flow is None:
            raise CliError("rerunning one run needs --flow")

        async def one(hub: Hub) -> dict[str, Any]:
            found = await operations.rerun_flow_run(
                hub, LOCAL, flow, run_id, version=version, via=VIA, by_name=True
            )
            return found

        rerun = with_hub(one)
        if as_json:
            print_json(rerun)
        else:
            console.print(f"{rerun['id']} {rerun['status']} (version {rerun['version']})")
        return

    async def start(hub: Hub) -> tuple[Operation, bool]:
        return await operations.rerun_flow_runs(
            hub,
            LOCAL,
            flow_id=flow,
            status=status or None,
            since=_when(since, "--since"),
            until=_when(until, "--until"),
            version=version,
            via=VIA,
            by_name=True,
        )

    _follow(start, "rerunning", as_json)


def replay(
    endpoint: str | None = typer.Option(None, "--endpoint", help="Endpoint id or name."),
    flow: str | None = typer.Option(None, "--flow", help="Flow id or name."),
    since: str = typer.Option(..., help="Events received at or after (ISO 8601, unix seconds)."),
    until: str | None = typer.Option(None, help="Events received before."),
    event_type: list[str] = typer.Option([], "--event-type", help="Only this type; repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Send stored events to an endpoint or a flow as if they had just arrived, each at
    most once per target."""
    if (endpoint is None) == (flow is None):
        raise CliError("give --endpoint or --flow (one of them)")
    start_at = _when(since, "--since")
    assert start_at is not None
    end_at = _when(until, "--until")

    async def start(hub: Hub) -> tuple[Operation, bool]:
        if endpoint is not None:
            return await operations.replay_to_endpoint(
                hub,
                LOCAL,
                endpoint,
                since=start_at,
                until=end_at,
                event_types=event_type,
                via=VIA,
                by_name=True,
            )
        assert flow is not None
        return await operations.replay_to_flow(
            hub,
            LOCAL,
            flow,
            since=start_at,
            until=end_at,
            event_types=event_type,
            via=VIA,
            by_name=True,
        )

    _follow(start, "replaying", as_json)


@jobs_app.command("dead")
def dead(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Jobs that failed for good, the latest first."""

    async def run(hub: Hub) -> list[dict[str, Any]]:
        return await every(
            lambda cursor, size: jobs.list_dead_jobs(hub, LOCAL, limit=size, cursor=cursor)
        )

    found = with_hub(run)
    print_rows(
        ("ID", "TASK", "ATTEMPTS", "DIED", "ERROR"),
        [
            (str(j["id"]), j["task"], str(j["attempts"]), j["died_at"], j["error"] or "")
            for j in found
        ],
        as_json=as_json,
        objects=found,
        empty="No dead jobs.",
    )


@jobs_app.command("retry")
def retry(job_id: int = typer.Argument(..., help="A dead job's id.")) -> None:
    """Start a dead job over with a full set of attempts."""

    async def run(hub: Hub) -> None:
        await jobs.retry_job(hub, LOCAL, job_id, via=VIA)

    with_hub(run)
    console.print(f"job {job_id} scheduled again")
