"""``renkei secrets list|set|delete``: named secrets for flows (``{{ secrets.NAME }}``).

The same use cases as ``/api/v1/secrets`` (``renkei.usecases.secrets``), audited the same way
(``secret.created|updated|deleted``, actor ``system``, ``via: cli``). A value is never an
argument, so it stays out of the shell history and the process list: ``set`` reads it from
stdin (without echo on a terminal) or from an environment variable (``--from-env VAR``).
Nothing prints a value.
"""

from __future__ import annotations

import getpass
import os
import sys

import typer

from renkei.cli._common import CliError, console, print_rows, with_hub
from renkei.errors import NotFound
from renkei.flows.secrets import MAX_VALUE, Secret
from renkei.hub import Hub
from renkei.usecases import LOCAL, secrets
from renkei.usecases.paging import every

__all__ = ["secrets_app"]

secrets_app = typer.Typer(
    help="Named secrets for flows' HTTP actions ({{ secrets.NAME }}); values are never shown.",
    no_args_is_help=True,
)


def _read_value(from_env: str | None) -> str:
    """The value from ``--from-env VAR`` or stdin (one trailing newline dropped)."""
    if from_env is not None:
        if not from_env:
            raise CliError("--from-env takes the name of an environment variable")
        value = os.environ.get(from_env)
        if value is None:
            raise CliError(f"environment variable {from_env} is not set")
        return value
    if sys.stdin is None:
        raise CliError("no value: give it on stdin or with --from-env VAR")
    if sys.stdin.isatty():
        value = getpass.getpass("value (not echoed): ")
    else:
        value = sys.stdin.read(MAX_VALUE * 4 + 3)
        if value.endswith("\r\n"):
            value = value[:-2]
        elif value.endswith("\n"):
            value = value[:-1]
    if not value:
        raise CliError(
            'no value: give it on stdin (`printf %s "$VALUE" | renkei secrets set NAME`) '
            "or with --from-env VAR"
        )
    return value


@secrets_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List secrets: names, descriptions and dates, never values."""

    async def run(hub: Hub) -> list[Secret]:
        return await every(
            lambda cursor, size: secrets.list_secrets(hub, LOCAL, limit=size, cursor=cursor)
        )

    found = with_hub(run)
    print_rows(
        ("NAME", "DESCRIPTION", "UPDATED"),
        [(s.name, s.description, s.updated_at.isoformat()) for s in found],
        as_json=as_json,
        objects=[s.to_dict() for s in found],
        empty="no secrets",
    )


@secrets_app.command("set")
def set_command(
    name: str = typer.Argument(..., help="lower-case letters, digits and _"),
    from_env: str | None = typer.Option(
        None, "--from-env", metavar="VAR", help="Read the value from this environment variable."
    ),
    description: str | None = typer.Option(None, help="What it is for (kept when not given)."),
) -> None:
    """Create a secret or give it a new value, read from stdin or --from-env VAR
    (never an argument, so it stays out of the shell history)."""
    value = _read_value(from_env)

    async def run(hub: Hub) -> tuple[Secret, bool]:
        return await secrets.put_secret(
            hub, LOCAL, name=name, value=value, description=description, via="cli"
        )

    secret, created = with_hub(run)
    console.print(
        f"{'created' if created else 'updated'} secret {secret.name} ({secret.id})",
        highlight=False,
        markup=False,
    )


@secrets_app.command("delete")
def delete_command(name: str = typer.Argument(..., help="The secret's name.")) -> None:
    """Delete a secret (flows that use it fail their HTTP action until it is set again)."""

    async def run(hub: Hub) -> Secret:
        try:
            return await secrets.delete_secret(hub, LOCAL, name, via="cli")
        except NotFound as missing:
            raise CliError(missing.message, "`renkei secrets list` lists them") from None

    secret = with_hub(run)
    console.print(f"deleted secret {secret.name}", highlight=False, markup=False)
