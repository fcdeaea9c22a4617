"""``renkei connectors list | show NAME``: the connector catalog, without a database."""

from __future__ import annotations

import json

import typer
from rich.table import Column, Table

from renkei.cli._common import console
from renkei.connectors.catalog import format_limits
from renkei.usecases import LOCAL, connections
from renkei.usecases.paging import MAX_LIMIT

__all__ = ["connectors_app"]

connectors_app = typer.Typer(help="The connector catalog.", no_args_is_help=True)


@connectors_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print the full catalog as JSON."),
) -> None:
    """Every connector: operations, sync objects, auth, credential fields, limits, sandbox."""
    entries = connections.catalog(LOCAL, limit=MAX_LIMIT).items
    if as_json:
        console.print_json(json.dumps(entries))
        return
    table = Table(
        Column("connector", no_wrap=True),  # a name cut in two cannot be copied into a command
        "operations",
        "syncs",
        "auth",
        "limits",
        "sandbox",
        show_lines=True,
    )
    for entry in entries:
        operations = "\n".join(
            op["name"]
            + (f" (batch ≤{op['max_batch_size']:,})" if op["batchable"] else "")
            + (" [read]" if op["kind"] == "read" else "")
            for op in entry["operations"]
        )
        syncs = "\n".join(f"{o['direction']} {o['name']}" for o in entry["sync_objects"])
        credentials = ", ".join(
            f["name"] + ("" if f["required"] else " (optional)") for f in entry["credentials"]
        )
        auth = "\n".join(entry["auth"]) + (f"\n({credentials})" if credentials else "")
        sandbox = entry["sandbox"]
        table.add_row(
            f"[bold]{entry['name']}[/bold]\n{entry['title']}",
            operations,
            syncs or "-",
            auth.strip() or "-",
            "\n".join(format_limits(entry)) or "-",
            sandbox["command"] if sandbox else "-",
        )
    console.print(table)


@connectors_app.command("show")
def show_command(name: str) -> None:
    """One connector's catalog entry as JSON (operations with input schemas, sync objects
    and directions, auth kinds, credential and config fields, limits, sandbox)."""
    entry = connections.connector_entry(LOCAL, name)  # NotFound: one line, exit 1
    console.print_json(json.dumps(entry))
