"""``renkei flows list | show | validate | enable | disable | runs | preview``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from renkei.cli._common import (
    CliError,
    console,
    err_console,
    load_yaml,
    print_rows,
    with_hub,
)
from renkei.flows.service import FlowRecord
from renkei.hub import Hub
from renkei.usecases import LOCAL, flows
from renkei.usecases.paging import every

app = typer.Typer(help="Flows: triggers, steps, runs and previews.", no_args_is_help=True)


def _print_json(value: Any) -> None:
    console.print_json(json.dumps(value, default=str))


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every flow with its version and state."""

    async def run(hub: Hub) -> list[FlowRecord]:
        return await every(
            lambda cursor, size: flows.list_flows(hub, LOCAL, limit=size, cursor=cursor)
        )

    found = with_hub(run)
    print_rows(
        ["id", "name", "version", "state"],
        [(r.id, r.name, str(r.version), "enabled" if r.enabled else "disabled") for r in found],
        as_json=as_json,
        objects=[
            {"id": r.id, "version": r.version, "enabled": r.enabled, **r.config()} for r in found
        ],
        empty="No flows.",
    )


@app.command()
def show(flow: str = typer.Argument(..., help="Flow id or name.")) -> None:
    """One flow as JSON (credentials redacted)."""

    async def run(hub: Hub) -> dict[str, Any]:
        return (await flows.get_flow(hub, LOCAL, flow, by_name=True)).to_dict()

    _print_json(with_hub(run))


@app.command()
def validate(file: Path = typer.Option(..., "-f", "--file", help="A YAML file.")) -> None:
    """Check the flows of a config file (or one flow file) without a database."""
    document = load_yaml(file)
    specs = document.get("flows", [document]) if isinstance(document, dict) else None
    if not isinstance(specs, list) or not all(isinstance(spec, dict) for spec in specs):
        raise CliError(f"{file}: expected a flow, or a configuration with a list of flows")
    failed = False
    for spec in specs:
        problems = flows.validate(
            LOCAL, {k: v for k, v in spec.items() if k not in ("name", "description", "enabled")}
        )
        name = spec.get("name", "?")
        if problems:
            failed = True
            for problem in problems:
                err_console.print(f"[red]{name}[/red] {problem['path']}: {problem['message']}")
        else:
            console.print(f"[green]ok[/green] {name}")
    if failed:
        raise typer.Exit(1)


def _switch(flow: str, enabled: bool) -> None:
    async def run(hub: Hub) -> str:
        record = await flows.set_enabled(hub, LOCAL, flow, enabled, by_name=True, via="cli")
        return record.name

    name = with_hub(run)
    console.print(f"{name} {'enabled' if enabled else 'disabled'}")


@app.command()
def enable(flow: str = typer.Argument(..., help="Flow id or name.")) -> None:
    """Start runs for new events again."""
    _switch(flow, True)


@app.command()
def disable(flow: str = typer.Argument(..., help="Flow id or name.")) -> None:
    """Stop starting runs; runs under way finish."""
    _switch(flow, False)


@app.command()
def runs(
    flow: str = typer.Argument(..., help="Flow id or name."),
    limit: int = typer.Option(20, help="How many, newest first."),
    status: str | None = typer.Option(None, help="Only runs in this status."),
    steps: bool = typer.Option(False, "--steps", help="Print each run's steps as JSON."),
) -> None:
    """Recent runs of a flow."""

    async def run(hub: Hub) -> list[dict[str, Any]]:
        return await every(
            lambda cursor, size: flows.list_runs(
                hub, LOCAL, flow, limit=size, cursor=cursor, status=status, by_name=True
            ),
            at_most=limit,
        )

    for found in with_hub(run):
        error = f"  {found['error']}" if found["error"] else ""
        console.print(
            f"{found['id']}  v{found['version']}  {found['status']:<9}  {found['event_id']}{error}"
        )
        if steps:
            _print_json(found["steps"])


@app.command()
def preview(
    flow: str = typer.Argument(..., help="Flow id or name."),
    event: str = typer.Option(
        ..., help='A sample event as JSON: {"type": ..., "name": ..., "data": ...}'
    ),
) -> None:
    """What the flow would do with EVENT; sends nothing."""
    try:
        sample = json.loads(event)
    except json.JSONDecodeError as exc:
        raise CliError(f"--event is not JSON: {exc}") from None
    if not isinstance(sample, dict):
        raise CliError('--event must be a JSON object: {"type": ..., "name": ..., "data": ...}')

    async def run(hub: Hub) -> dict[str, Any]:
        return await flows.preview(hub, LOCAL, flow, event=sample, by_name=True)

    _print_json(with_hub(run))
