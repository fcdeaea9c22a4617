"""``renkei serve | worker | migrate | token | keys | version``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import uvicorn
import yaml

from renkei import __version__
from renkei.cli._common import console, err_console, load_settings, safe_url, with_hub
from renkei.cli.connections import connections_app
from renkei.cli.connectors import connectors_app
from renkei.cli.endpoints import deliveries_app, endpoints_app, events_app, recover_app
from renkei.cli.flows import app as flows_app
from renkei.cli.sandbox import sandbox_app
from renkei.cli.sources import sources_app
from renkei.cli.syncs import syncs_app
from renkei.cli.tail import tail
from renkei.config import ConfigError, Plan, apply_plan, export_state, load_config, make_plan
from renkei.hub import Hub
from renkei.process import listening_socket, tune_long_running_process
from renkei.queue.runner import run_worker
from renkei.security.keyring import generate_key
from renkei.security.rotation import rotate_keys
from renkei.security.tokens import Scope, count_tokens, create_token
from renkei.store import migrate as run_migrations
from renkei.store.migrate import current_revision

app = typer.Typer(help="Renkei: connect marketing tools.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys for stored secrets.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(keys_app, name="keys")
app.add_typer(connectors_app, name="connectors")
app.add_typer(connections_app, name="connections")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(sources_app, name="sources")
app.add_typer(flows_app, name="flows")
app.add_typer(endpoints_app, name="endpoints")
app.add_typer(events_app, name="events")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(recover_app, name="recover")
app.add_typer(syncs_app, name="syncs")
app.command("tail")(tail)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"renkei {__version__}")


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""

    async def run(hub: Hub) -> str | None:
        await run_migrations(hub.database)
        return await current_revision(hub.database)

    revision = with_hub(run, migrate_first=False)
    console.print(f"database is at revision {revision}")


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Address to listen on (RENKEI_HOST)."),
    port: int | None = typer.Option(None, help="Port to listen on (RENKEI_PORT)."),
    no_worker: bool = typer.Option(False, "--no-worker", help="API only; run workers elsewhere."),
) -> None:
    """Run the API, ingest, worker and scheduler in one process."""
    from renkei.api.app import create_app

    settings = load_settings()
    host = host or settings.host
    port = port or settings.port
    try:
        sock = listening_socket(host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        err_console.print(f"cannot listen on {host}:{port}: {reason}", soft_wrap=True)
        raise typer.Exit(1) from exc

    async def prepare(hub: Hub) -> int:
        async with hub.database.read() as connection:
            return await count_tokens(connection)

    tokens = with_hub(prepare)
    hub = Hub(settings)
    console.print(f"[bold]Renkei {__version__}[/bold] listening on http://{host}:{port}")
    console.print(f"  database   {safe_url(settings.database_url)}")
    console.print(f"  API docs   http://{host}:{port}/docs")
    if not tokens and not settings.admin_token:
        console.print(
            "  [yellow]No API token yet.[/yellow] Create one with "
            "[bold]renkei token create --name admin --scope admin[/bold] "
            "or set RENKEI_ADMIN_TOKEN."
        )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(hub, with_worker=not no_worker, long_running=True),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            loop="uvloop",
            http="httptools",
            timeout_graceful_shutdown=30,
        )
    )
    server.run(sockets=[sock])
    if not server.started:
        raise typer.Exit(3)


@app.command()
def worker(
    burst: bool = typer.Option(False, help="Run what is due now, then exit."),
) -> None:
    """Run a delivery/sync worker (scale-out nodes)."""

    async def run(hub: Hub) -> None:
        node = hub.new_worker()
        if not burst:
            tune_long_running_process()
        if burst:
            count = await node.run_burst()
            console.print(f"ran {count} jobs")
        else:
            await run_worker(node)

    with_hub(run)


@token_app.command("create")
def token_create(
    name: str = typer.Option(..., help="What the token is for."),
    scope: str = typer.Option("read", help="admin, write or read."),
) -> None:
    """Create an API token. It is shown once."""
    if scope not in ("admin", "write", "read"):
        err_console.print("[red]--scope must be admin, write or read[/red]")
        raise typer.Exit(2)

    async def run(hub: Hub) -> str:
        async with hub.database.transaction() as tx:
            issued = await create_token(tx, name=name, scope=scope_of(scope), now=hub.clock.now())
            await hub.audit(
                tx,
                None,
                "token.created",
                target_type="token",
                target_id=issued.id,
                details={"name": name, "scope": scope, "via": "cli"},
            )
        return issued.token

    token = with_hub(run)
    console.print(token, soft_wrap=True, highlight=False)
    err_console.print("Store it now: it will not be shown again.")


def scope_of(value: str) -> Scope:
    return value  # type: ignore[return-value]


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new random key for RENKEI_SECRET_KEY."""
    console.print(generate_key(), highlight=False)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret under the first key of RENKEI_SECRET_KEY."""

    async def run(hub: Hub) -> None:
        report = await rotate_keys(hub.database, hub.keyring)
        for column, count in report.tables.items():
            console.print(f"  {column}: {count} re-encrypted")
        console.print(
            f"{report.rewritten} secrets now sealed with key {hub.keyring.current_key_id}; "
            "older keys can be removed from RENKEI_SECRET_KEY."
        )

    with_hub(run)


@app.command()
def plan(file: Path = typer.Option(..., "-f", "--file", exists=True, dir_okay=False)) -> None:
    """Show what `renkei apply -f FILE` would change."""

    async def run(hub: Hub) -> Plan:
        return await make_plan(hub, _load(hub, file))

    _print_plan(with_hub(run))


@app.command()
def apply(file: Path = typer.Option(..., "-f", "--file", exists=True, dir_okay=False)) -> None:
    """Create or update everything FILE describes (idempotent)."""

    async def run(hub: Hub) -> tuple[Plan, dict[str, str]]:
        changes = await make_plan(hub, _load(hub, file))
        return changes, await apply_plan(hub, changes)

    changes, applied = with_hub(run)
    _print_plan(changes)
    for name, object_id in applied.items():
        console.print(f"  applied {name} → {object_id}")


@app.command()
def export() -> None:
    """Print the current configuration as YAML (secrets omitted)."""

    async def run(hub: Hub) -> dict[str, Any]:
        return await export_state(hub)

    console.print(yaml.safe_dump(with_hub(run), sort_keys=False, allow_unicode=True), end="")


def _load(hub: Hub, file: Path) -> dict[str, list[dict[str, Any]]]:
    try:
        return load_config(file, known_sections=list(hub.resources))
    except ConfigError as exc:
        err_console.print(f"[red]{file}: {exc}[/red]")
        raise typer.Exit(2) from None


def _print_plan(changes: Plan) -> None:
    symbols = {"create": "[green]+[/green]", "update": "[yellow]~[/yellow]", "unchanged": " "}
    for change in changes.changes:
        detail = f" ({', '.join(change.fields)})" if change.fields else ""
        console.print(f"{symbols[change.action]} {change.section}.{change.name}{detail}")
    summary = changes.summary()
    console.print(
        f"{summary['create']} to create, {summary['update']} to update, "
        f"{summary['unchanged']} unchanged"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
