"""``renkei flows list | show | validate | enable | disable | runs | preview``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from renkei.cli._common import CliError, console, err_console, load_yaml, print_json, with_hub
from renkei.events.envelope import format_timestamp
from renkei.flows.engine import FlowEngine
from renkei.flows.preview import preview_flow, sample_event
from renkei.flows.scope import load_profile
from renkei.flows.service import (
    find_flow,
    list_flows,
    list_runs,
    reveal_secret,
    set_enabled,
)
from renkei.flows.spec import validate_flow
from renkei.hub import Hub

app = typer.Typer(help="Flows: triggers, steps, runs and previews.", no_args_is_help=True)


def _print_json(value: Any) -> None:
    console.print_json(json.dumps(value, default=str))


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every flow with its version and state."""

    async def run(hub: Hub) -> list[Any]:
        found: list[Any] = []
        async with hub.database.read() as connection:
            while True:
                page = await list_flows(
                    connection, limit=500, after=found[-1].id if found else None
                )
                found.extend(page)
                if len(page) < 500:
                    return found

    found = with_hub(run)
    if as_json:
        print_json(
            [{"id": r.id, "version": r.version, "enabled": r.enabled, **r.config()} for r in found]
        )
        return
    for record in found:
        state = "enabled" if record.enabled else "disabled"
        console.print(f"{record.id}  {record.name}  v{record.version}  {state}")


@app.command()
def show(flow: str = typer.Argument(..., help="Flow id or name.")) -> None:
    """One flow as JSON (credentials redacted)."""

    async def run(hub: Hub) -> dict[str, Any]:
        async with hub.database.read() as connection:
            return (await find_flow(connection, flow)).to_dict()

    _print_json(_or_exit(run))


@app.command()
def validate(file: Path = typer.Option(..., "-f", "--file", help="A YAML file.")) -> None:
    """Check the flows of a config file (or one flow file) without a database."""
    document = load_yaml(file)
    specs = document.get("flows", [document]) if isinstance(document, dict) else None
    if not isinstance(specs, list) or not all(isinstance(spec, dict) for spec in specs):
        raise CliError(f"{file}: expected a flow, or a configuration with a list of flows")
    failed = False
    for spec in specs:
        problems = validate_flow(
            {k: v for k, v in spec.items() if k not in ("name", "description", "enabled")}
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
        async with hub.database.transaction() as tx:
            record = await find_flow(tx, flow)
            await set_enabled(hub, tx, record.id, enabled)
            await hub.audit(
                tx,
                None,
                "flow.enabled" if enabled else "flow.disabled",
                target_type="flow",
                target_id=record.id,
                details={"via": "cli"},
            )
            return record.name

    name = _or_exit(run)
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
        async with hub.database.read() as connection:
            record = await find_flow(connection, flow)
            return await list_runs(connection, record.id, limit=limit, status=status)

    for found in _or_exit(run):
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

    async def run(hub: Hub) -> dict[str, Any]:
        engine: FlowEngine = hub.flows
        sample = sample_event(json.loads(event), format_timestamp(hub.clock.now()))
        async with hub.database.read() as connection:
            record = await find_flow(connection, flow)
            profile = await load_profile(connection, sample)
            secret = await reveal_secret(hub, connection, record.id)
        return await preview_flow(
            engine,
            flow_id=record.id,
            name=record.name,
            version=record.version,
            spec=record.spec,
            secret=secret,
            event=sample,
            profile=profile,
            responses={},
        )

    _print_json(_or_exit(run))


def _or_exit(action: Any) -> Any:
    # FlowNotFound and other user errors become one line in RenkeiGroup (cli/_common.py).
    return with_hub(action)
