"""``renkei connections list|create|show|update|delete|test|connect|usage|submit|submission|call``.

Credentials are given as ``--credential NAME=VALUE``; ``NAME=env:VAR`` reads the value from
the environment and ``NAME=-`` asks for it without echo, so secrets need not sit in the
shell history. They are stored encrypted and never printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
import typer

from renkei.cli._common import CliError, console, print_rows, with_hub
from renkei.connectors.errors import ConnectorError
from renkei.hub import Hub
from renkei.usecases import LOCAL, connections, oauth
from renkei.usecases.paging import every

__all__ = ["connections_app"]

T = TypeVar("T")

connections_app = typer.Typer(
    help="Connections: configured connectors with encrypted credentials.", no_args_is_help=True
)


def _print(payload: Any) -> None:
    console.print(
        orjson.dumps(payload, option=orjson.OPT_INDENT_2, default=str).decode(),
        highlight=False,
        markup=False,
    )


def _fail(message: str, code: int = 1) -> CliError:
    """A user error: one line on stderr, exit status 1 (RenkeiGroup prints it)."""
    return CliError(message)


def _run(action: Callable[[Hub], Awaitable[T]]) -> T:
    try:
        return with_hub(action)
    except ConnectorError as exc:
        raise _fail(f"{type(exc).__name__} ({exc.code}): {exc.message}") from None


def _scalar(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _pairs(values: list[str], what: str, *, secret: bool = False) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise _fail(f"--{what} takes NAME=VALUE, got {item.split('=')[0]!r}", 2)
        if secret:
            if value.startswith("env:"):
                found = os.environ.get(value[4:])
                if found is None:
                    raise _fail(f"--{what} {name}: environment variable {value[4:]} is not set", 2)
                value = found
            elif value == "-":
                value = typer.prompt(f"{name}", hide_input=True)
            pairs[name] = value
        else:
            pairs[name] = _scalar(value)
    return pairs


def _json(value: str | None, what: str) -> Any:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise _fail(f"--{what} must be JSON", 2) from None


@connections_app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every connection (never its credentials)."""

    async def run(hub: Hub) -> list[dict[str, Any]]:
        rows = await every(
            lambda cursor, size: connections.list_connections(hub, LOCAL, limit=size, cursor=cursor)
        )
        return [row.public() for row in rows]

    found = _run(run)
    print_rows(
        ["id", "connector", "name", "status", "last error"],
        [
            (row["id"], row["connector"], row["name"], row["status"], row["last_error"] or "")
            for row in found
        ],
        as_json=as_json,
        objects=found,
        empty="No connections.",
    )


@connections_app.command("create")
def create_command(
    name: str = typer.Argument(..., help="A unique name, used by flows."),
    connector: str = typer.Option(..., help="marketo, hubspot, ... (renkei connectors list)"),
    config: list[str] = typer.Option([], "--config", "-c", help="NAME=VALUE, repeatable."),
    credential: list[str] = typer.Option(
        [], "--credential", "-s", help="NAME=VALUE, NAME=env:VAR or NAME=- (prompt)."
    ),
    limits: str | None = typer.Option(None, help='JSON, e.g. {"daily_quota": {"calls": 10000}}'),
) -> None:
    """Create a connection; credentials are stored encrypted."""
    settings = _pairs(config, "config")
    secrets = _pairs(credential, "credential", secret=True)
    overrides = _json(limits, "limits")

    async def run(hub: Hub) -> dict[str, Any]:
        row = await connections.create_connection(
            hub,
            LOCAL,
            name=name,
            connector=connector,
            config=settings,
            credentials=secrets,
            limits=overrides,
            via="cli",
        )
        return row.public()

    _print(_run(run))


@connections_app.command("show")
def show_command(ref: str = typer.Argument(..., help="Id or name.")) -> None:
    """One connection (without credentials)."""

    async def run(hub: Hub) -> dict[str, Any]:
        return (await connections.get_connection(hub, LOCAL, ref)).public()

    _print(_run(run))


@connections_app.command("update")
def update_command(
    ref: str = typer.Argument(..., help="Id or name."),
    name: str | None = typer.Option(None, help="A new name."),
    config: list[str] = typer.Option([], "--config", "-c", help="NAME=VALUE, merged in."),
    credential: list[str] = typer.Option(
        [], "--credential", "-s", help="NAME=VALUE, NAME=env:VAR or NAME=- (prompt)."
    ),
    limits: str | None = typer.Option(None, help="JSON; replaces the stored limits."),
) -> None:
    """Change a connection: rotate a credential, change config or limits."""
    settings = _pairs(config, "config")
    secrets = _pairs(credential, "credential", secret=True)
    overrides = _json(limits, "limits")

    given = {
        "name": name is not None,
        "config": bool(settings),
        "credentials": bool(secrets),
        "limits": overrides is not None,
    }

    async def run(hub: Hub) -> dict[str, Any]:
        current = await connections.get_connection(hub, LOCAL, ref)
        row = await connections.update_connection(
            hub,
            LOCAL,
            current.id,
            name=name,
            config={**current.config, **settings} if settings else None,
            credentials=secrets or None,
            limits=overrides,
            changed=[field for field, gave in given.items() if gave],
            via="cli",
        )
        return row.public()

    _print(_run(run))


@connections_app.command("delete")
def delete_command(
    ref: str = typer.Argument(..., help="Id or name."),
    yes: bool = typer.Option(False, "--yes", help="Don't ask."),
) -> None:
    """Delete a connection and the records still waiting to be sent through it."""
    if not yes:
        typer.confirm(f"Delete connection {ref} and its pending records?", abort=True)

    async def run(hub: Hub) -> str:
        return (await connections.delete_connection(hub, LOCAL, ref, via="cli")).id

    console.print(f"deleted {_run(run)}", highlight=False)


@connections_app.command("test")
def test_command(ref: str = typer.Argument(..., help="Id or name.")) -> None:
    """Make one cheap authenticated call to the vendor."""

    async def run(hub: Hub) -> dict[str, Any]:
        return await connections.test_connection(hub, LOCAL, ref, via="cli")

    outcome = _run(run)
    _print(outcome)
    if not outcome["ok"]:
        raise typer.Exit(1)


@connections_app.command("connect")
def connect_command(
    ref: str = typer.Argument(..., help="Id or name."),
    as_json: bool = typer.Option(
        False, "--json", help="The callback answers JSON instead of the dashboard."
    ),
) -> None:
    """OAuth connect: print the vendor's consent URL (valid 10 minutes, once) to open in a
    browser; the vendor sends it back to RENKEI_PUBLIC_URL/oauth/callback."""

    async def run(hub: Hub) -> dict[str, Any]:
        if not hub.settings.public_url:
            raise _fail(
                "set RENKEI_PUBLIC_URL to the URL browsers reach this Renkei at: the vendor "
                "sends the browser back to its /oauth/callback"
            )
        return await oauth.start(
            hub,
            LOCAL,
            ref,
            request_base_url=hub.settings.public_url,
            return_to="json" if as_json else "dashboard",
            via="cli",
        )

    started = _run(run)
    console.print(str(started["authorize_url"]), highlight=False, markup=False, soft_wrap=True)


@connections_app.command("usage")
def usage_command(ref: str = typer.Argument(..., help="Id or name.")) -> None:
    """Calls in the current rate window and in flight, and today's quota."""

    async def run(hub: Hub) -> dict[str, Any]:
        return await connections.usage(hub, LOCAL, ref)

    _print(_run(run))


@connections_app.command("submit")
def submit_command(
    ref: str = typer.Argument(..., help="Id or name."),
    operation: str = typer.Argument(..., help="e.g. upsert_leads"),
    file: Path = typer.Option(..., "--file", "-f", help="JSON array of records ('-': stdin)."),
) -> None:
    """Queue records; a running worker (renkei serve or renkei worker) sends them."""
    raw = sys.stdin.read() if str(file) == "-" else file.read_text()
    records = _json(raw, "file")
    if not isinstance(records, list):
        raise _fail("--file must hold a JSON array of records", 2)

    async def run(hub: Hub) -> str:
        _, submission_id = await connections.submit(hub, LOCAL, ref, operation, records)
        return submission_id

    console.print(_run(run), highlight=False)


@connections_app.command("submission")
def submission_command(submission_id: str = typer.Argument(...)) -> None:
    """A submission's per-record outcomes."""

    async def run(hub: Hub) -> dict[str, Any]:
        return (await connections.get_submission(hub, LOCAL, submission_id)).as_dict()

    _print(_run(run))


@connections_app.command("call")
def call_command(
    ref: str = typer.Argument(..., help="Id or name."),
    operation: str = typer.Argument(..., help="e.g. read_activities"),
    input: str = typer.Option("{}", "--input", "-i", help="The operation's input as JSON."),
) -> None:
    """Run an operation now, outside the queue (reads, previews)."""
    payload = _json(input, "input")

    async def run(hub: Hub) -> dict[str, Any]:
        result = await connections.call(hub, LOCAL, ref, operation, payload)
        return {
            "ok": result.ok,
            "records": [vars(r) | {"ok": r.ok} for r in result.records],
            "data": result.data,
        }

    _print(_run(run))
