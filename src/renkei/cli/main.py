"""``renkei serve | worker | migrate | token | keys | version``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog
import typer
import uvicorn
import yaml

from renkei import __version__
from renkei.cli._common import (
    CliError,
    RenkeiGroup,
    console,
    err_console,
    load_settings,
    print_rows,
    read_text_file,
    record_data_dir,
    safe_url,
    with_hub,
)
from renkei.cli.alerts import alerts_app
from renkei.cli.connections import connections_app
from renkei.cli.connectors import connectors_app
from renkei.cli.endpoints import deliveries_app, endpoints_app, events_app, recover_app
from renkei.cli.flows import app as flows_app
from renkei.cli.operations import flows_rerun, jobs_app, replay
from renkei.cli.privacy import privacy_app
from renkei.cli.sandbox import sandbox_app
from renkei.cli.secrets import secrets_app
from renkei.cli.sources import sources_app
from renkei.cli.syncs import syncs_app
from renkei.cli.tail import tail
from renkei.cli.violations import violations_command
from renkei.config import ConfigError, Plan, apply_plan, export_state, load_config, make_plan
from renkei.hub import Hub
from renkei.process import SharedFlag, listening_socket, tune_long_running_process
from renkei.queue.runner import run_worker
from renkei.queue.wakeup import wake_other_processes
from renkei.security.keyring import generate_key, read_key_file, write_key_file
from renkei.security.rotation import rotate_keys
from renkei.security.tokens import SCOPES, Scope, count_tokens
from renkei.store import migrate as run_migrations
from renkei.store.migrate import current_revision
from renkei.supervisor import MAX_PROCESSES, START_FAILED, default_process_count, supervise
from renkei.usecases import LOCAL
from renkei.usecases import tokens as token_cases

T = TypeVar("T")
log = structlog.get_logger("renkei")

app = typer.Typer(
    help="Renkei: connect marketing tools.",
    no_args_is_help=True,
    cls=RenkeiGroup,
    pretty_exceptions_enable=False,
)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys for stored secrets.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(token_app, name="tokens", hidden=True)
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
app.add_typer(secrets_app, name="secrets")
app.add_typer(alerts_app, name="alerts")
app.add_typer(jobs_app, name="jobs")
app.add_typer(privacy_app, name="privacy")
flows_app.command("rerun")(flows_rerun)
app.command("replay")(replay)
app.command("tail")(tail)
app.command("violations")(violations_command)


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

    settings = load_settings(creating=True)
    revision = with_hub(run, migrate_first=False, settings=settings)
    _record(settings, by="migrate")
    console.print(f"database is at revision {revision}")


def _record(settings: Any, *, by: str = "serve") -> None:
    """``serve``/``migrate`` on the defaults (the current directory): remember where, for
    commands run elsewhere. Nothing is recorded when the environment names the data."""
    import os

    if not os.environ.get("RENKEI_DATA_DIR") and not os.environ.get("RENKEI_DATABASE_URL"):
        record_data_dir(settings.data_dir, by=by)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Address to listen on (RENKEI_HOST)."),
    port: int | None = typer.Option(
        None, min=0, max=65535, help="Port to listen on (RENKEI_PORT)."
    ),
    no_worker: bool = typer.Option(False, "--no-worker", help="API only; run workers elsewhere."),
    processes: int | None = typer.Option(
        None,
        min=1,
        max=MAX_PROCESSES,
        help="Processes serving the port, each with a worker (RENKEI_PROCESSES; "
        "default: one per core). 1: everything in this process.",
    ),
) -> None:
    """Run the API, ingest, workers and scheduler: one process per core, one port."""
    settings = load_settings(creating=True, quiet=True)
    host = host or settings.host
    port = port or settings.port
    count = processes or settings.processes or default_process_count()
    try:
        sock = listening_socket(host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        err_console.print(f"error: cannot listen on {host}:{port}: {reason}", soft_wrap=True)
        raise typer.Exit(1) from exc

    async def prepare(hub: Hub) -> int:
        async with hub.database.read() as connection:
            return await count_tokens(connection)

    # Migrations run here, once, before any child starts serving; a child forked later
    # (a replacement) does not migrate. A database server that is away does not stop the
    # start: the processes serve, not ready, and the first to reach it migrates.
    migrated = SharedFlag()
    tokens = _migrate_first(settings, prepare, migrated)
    _record(settings)
    console.print(f"[bold]Renkei {__version__}[/bold] listening on http://{host}:{port}")
    console.print(f"  database   {safe_url(settings.database_url)}")
    if not migrated.is_set():
        console.print(
            "  [yellow]The database is unreachable.[/yellow] Not ready (/readyz answers 503) "
            "until it answers; the schema is migrated then.",
            soft_wrap=True,
        )
    console.print(f"  processes  {count}")
    console.print(f"  API docs   http://{host}:{port}/docs")
    console.print(f"  dashboard  http://{host}:{port}/ui/")
    if tokens == 0 and not settings.admin_token:
        console.print(
            "  [yellow]No API token yet.[/yellow] Create one with "
            "[bold]renkei token create --name admin --scope admin[/bold] "
            "or set RENKEI_ADMIN_TOKEN."
        )

    def serve_child(_slot: int) -> int:
        return _serve_on(sock, settings, with_worker=not no_worker, migrated=migrated)

    code = serve_child(0) if count == 1 else supervise(count, serve_child, shared_metrics=True)
    if code:
        raise typer.Exit(code)


def _migrate_first(
    settings: Any, action: Callable[[Hub], Awaitable[T]], migrated: SharedFlag
) -> T | None:
    """Migrate the schema and run ``action``, then set ``migrated``; None when the database
    server is away (the processes started next migrate when it answers)."""
    hubs: list[Hub] = []

    async def run(hub: Hub) -> T:
        hubs.append(hub)
        await run_migrations(hub.database)
        migrated.set()
        return await action(hub)

    try:
        return with_hub(run, migrate_first=False, settings=settings)
    except Exception as exc:
        if not hubs or not hubs[0].waits_for(exc):
            raise
        return None


def _serve_on(sock: Any, settings: Any, *, with_worker: bool, migrated: SharedFlag) -> int:
    """Serve the API (and a worker) on ``sock`` until SIGTERM/SIGINT; 3 when it never started."""
    from renkei.api.app import create_app
    from renkei.api.http_protocol import HttpProtocol
    from renkei.dashboard import with_dashboard

    hub = Hub(settings)
    if not with_worker:
        wake_other_processes(hub.database)  # the workers are elsewhere
    server = uvicorn.Server(
        uvicorn.Config(
            with_dashboard(
                create_app(hub, with_worker=with_worker, long_running=True, migrated=migrated),
                hub,
            ),
            log_config=None,
            access_log=False,
            loop="uvloop",
            http=HttpProtocol,  # httptools, each response in one write
            timeout_graceful_shutdown=30,
        )
    )
    server.run(sockets=[sock])
    return 0 if server.started else START_FAILED


@app.command()
def worker(
    burst: bool = typer.Option(False, help="Run what is due now, then exit."),
    processes: int = typer.Option(
        1, min=1, max=MAX_PROCESSES, help="Worker processes, supervised (not with --burst)."
    ),
) -> None:
    """Run a delivery/sync worker (scale-out nodes)."""

    if burst:

        async def run_burst(hub: Hub) -> None:
            console.print(f"ran {await hub.new_worker().run_burst()} jobs")

        with_hub(run_burst)
        return

    # As `renkei serve`: migrated once, here; a worker that cannot reach its database
    # server (now, or when it is replaced) waits for it instead of failing.
    settings = load_settings()
    migrated = SharedFlag()
    _migrate_first(settings, _nothing, migrated)

    async def run(hub: Hub) -> None:
        try:
            await hub.start(
                with_worker=False,
                migrate=not migrated.is_set(),
                wait_for_database=True,
                on_migrated=migrated.set,
            )
            await hub.started()
        except Exception as exc:
            raise _StartFailed() from exc
        tune_long_running_process()
        await run_worker(hub.new_worker())

    def one_worker(_slot: int) -> int:
        try:
            with_hub(run, migrate_first=False, settings=settings)
        except _StartFailed as failed:
            if processes == 1 and failed.__cause__ is not None:
                raise failed.__cause__ from None  # the CLI's one line for it
            log.exception("worker.start_failed", exc_info=failed.__cause__)
            return START_FAILED
        return 0

    code = one_worker(0) if processes == 1 else supervise(processes, one_worker)
    if code:
        raise typer.Exit(code)


async def _nothing(_: Hub) -> None:
    return None


class _StartFailed(Exception):
    """A worker process's start failed (for its supervisor: a fault, not a passing outage)."""


@token_app.command("create")
def token_create(
    name: str = typer.Option(..., help="What the token is for."),
    scope: str = typer.Option("read", help="admin, write or read."),
) -> None:
    """Create an API token. It is shown once."""
    if scope not in SCOPES:
        raise CliError(f"--scope must be one of {', '.join(SCOPES)}, not {scope!r}")

    async def run(hub: Hub) -> str:
        issued = await token_cases.create_token(
            hub, LOCAL, name=name, scope=scope_of(scope), via="cli"
        )
        return issued.token

    token = with_hub(run)
    console.print(token, soft_wrap=True, highlight=False)
    err_console.print("Store it now: it will not be shown again.")


def scope_of(value: str) -> Scope:
    return value  # type: ignore[return-value]


@token_app.command("list")
def token_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    active: bool = typer.Option(False, "--active", help="Leave revoked tokens out."),
) -> None:
    """API tokens (never the tokens themselves: their first characters)."""

    async def run(hub: Hub) -> list[dict[str, Any]]:
        return await token_cases.list_tokens(hub, LOCAL, include_revoked=not active)

    found = with_hub(run)
    rows = [
        [
            t["id"],
            t["name"],
            t["scope"],
            t["prefix"] + "…",
            t["created_at"].isoformat(timespec="seconds"),
            t["revoked_at"].isoformat(timespec="seconds") if t["revoked_at"] else "",
        ]
        for t in found
    ]
    print_rows(
        ["id", "name", "scope", "starts", "created", "revoked"],
        rows,
        as_json=as_json,
        objects=found,
        empty="No tokens.",
    )


@token_app.command("revoke")
def token_revoke(token: str = typer.Argument(..., help="Token id, or name when unique.")) -> None:
    """Revoke a token: it stops working within seconds."""

    async def run(hub: Hub) -> str:
        return await token_cases.revoke_token(hub, LOCAL, token, by_name=True, via="cli")

    console.print(f"{with_hub(run)} revoked", highlight=False)


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new random key for RENKEI_SECRET_KEY."""
    console.print(generate_key(), highlight=False)


@keys_app.command("rotate")
def keys_rotate(
    servers_updated: bool = typer.Option(
        False,
        "--servers-updated",
        help="Every server and worker already runs with the new key in RENKEI_SECRET_KEY.",
    ),
) -> None:
    """Re-encrypt every stored secret under a new key.

    With RENKEI_SECRET_KEY (new key first, old keys after): re-encrypt under its first key.
    Without it: generate a new key, put it first in the key file, re-encrypt. Servers that
    read the key file pick the new key up when they meet it; servers that read
    RENKEI_SECRET_KEY cannot, so they must be restarted with it first (--servers-updated).
    """
    settings = load_settings()
    key_file = settings.secret_key_file
    if settings.secret_key:
        keys = list(settings.secret_key)
        if key_file.exists():
            stored = read_key_file(key_file)
            write_key_file(key_file, keys + [key for key in stored if key not in keys])
            err_console.print(f"{key_file}: the new key is first; the old ones stay after it")
        elif not servers_updated:
            raise CliError(
                "servers that read RENKEI_SECRET_KEY cannot learn a new key while they run",
                "restart every server and worker with RENKEI_SECRET_KEY=<new>,<old> first, "
                "then run `renkei keys rotate --servers-updated`",
            )
    else:
        keys = [generate_key(), *read_key_file(key_file)]
        write_key_file(key_file, keys)
        err_console.print(f"{key_file}: a new key is first; the old ones stay after it")

    async def run(hub: Hub) -> None:
        report = await rotate_keys(hub.database, hub.keyring)
        for column, count in report.tables.items():
            console.print(f"  {column}: {count} re-encrypted")
        console.print(
            f"{report.rewritten} secrets now sealed with key {hub.keyring.current_key_id}; "
            "older keys can be removed once every server runs with the new one."
        )

    with_hub(run, settings=settings.model_copy(update={"secret_key": keys}))


@app.command()
def plan(file: Path = typer.Option(..., "-f", "--file", help="A YAML configuration file.")) -> None:
    """Show what `renkei apply -f FILE` would change (and refuse what apply would refuse)."""
    text = read_text_file(file)

    async def run(hub: Hub) -> Plan:
        return await make_plan(hub, _load(hub, file, text))

    _print_plan(with_hub(run))


@app.command()
def apply(
    file: Path = typer.Option(..., "-f", "--file", help="A YAML configuration file."),
) -> None:
    """Create or update everything FILE describes (idempotent)."""
    text = read_text_file(file)

    async def run(hub: Hub) -> tuple[Plan, dict[str, str]]:
        changes = await make_plan(hub, _load(hub, file, text))
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


def _load(hub: Hub, file: Path, text: str) -> dict[str, list[dict[str, Any]]]:
    try:
        return load_config(text, known_sections=list(hub.resources))
    except ConfigError as exc:
        raise CliError(f"{file}: {exc}") from None


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
