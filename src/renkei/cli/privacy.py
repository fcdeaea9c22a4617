"""``renkei privacy delete | status | suppress | suppressions | lift | export``: the
privacy requests, suppressions and exports of the API, through the same use cases."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import typer

from renkei.cli._common import CliError, console, print_json, print_rows, with_hub
from renkei.events.suppressions import Suppression
from renkei.hub import Hub
from renkei.privacy import PrivacyRequest
from renkei.usecases import LOCAL, privacy
from renkei.usecases.paging import every

__all__ = ["privacy_app"]

VIA = "cli"

privacy_app = typer.Typer(
    help="Delete or export a person; suppress their events.", no_args_is_help=True
)


def _show(request: PrivacyRequest, as_json: bool) -> None:
    if as_json:
        print_json(request.to_dict())
        return
    console.print(f"{request.id} {request.status}", markup=False, highlight=False)
    rows = [
        (name, str(state.get("status")), str(state.get("reason") or _counts(state)))
        for name, state in request.systems.items()
    ]
    if rows:
        print_rows(("system", "status", "detail"), rows, as_json=False, objects=[])


def _counts(state: dict[str, Any]) -> str:
    counts = state.get("counts")
    if isinstance(counts, dict):
        return ", ".join(f"{k}={v}" for k, v in counts.items() if v)
    return f"deleted={state['deleted']}" if "deleted" in state else ""


@privacy_app.command("delete")
def delete(
    profile: str | None = typer.Option(None, "--profile", help="the profile's id"),
    user_id: str | None = typer.Option(None, "--user-id", help="the person's user id"),
    email: str | None = typer.Option(None, "--email", help="the person's email"),
    events: str | None = typer.Option(
        None, help="delete or scrub the person's events (default: RENKEI_PRIVACY_EVENTS)"
    ),
    wait: float = typer.Option(
        60.0,
        "--wait",
        min=0,
        help="seconds to wait for the running server to finish the request (exit 1 if not)",
    ),
    queue_only: bool = typer.Option(
        False, "--queue-only", help="only queue the request and print it (the server works it)"
    ),
    in_process: bool = typer.Option(
        False,
        "--in-process",
        help="run the request in this process, calling the vendors with this shell's "
        "settings (RENKEI_ALLOW_PRIVATE_TARGETS, proxies), not the server's",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete a person from Renkei and from every connection, and show how it went.

    The request is queued and the running server's worker carries it out, calling each
    vendor under the server's settings; this command waits for it (--wait) and prints the
    status per system."""
    if events is not None and events not in ("delete", "scrub"):
        raise CliError("--events is delete or scrub")
    if queue_only and in_process:
        raise CliError("--queue-only and --in-process exclude each other")

    async def action(hub: Hub) -> PrivacyRequest:
        created = await privacy.request_deletion(
            hub, LOCAL, profile_id=profile, user_id=user_id, email=email, events=events, via=VIA
        )
        if queue_only:
            return created
        if in_process:
            return await privacy.work_request(hub, LOCAL, created.id)
        return await _finished(hub, created.id, wait)

    request = with_hub(action)
    _show(request, as_json)
    if not (queue_only or in_process) and request.status not in FINISHED:
        raise CliError(
            f"{request.id} is still {request.status} after {wait:g}s",
            hint=_STILL_PENDING if request.status == "pending" else _STILL_RUNNING,
        )


FINISHED = ("done", "failed")
_POLL_SECONDS = 0.2
_STILL_PENDING = (
    "no worker has taken it: is `renkei serve` running on this database? It runs the "
    "request when it starts; follow it with `renkei privacy status`"
)
_STILL_RUNNING = (
    "a vendor is being retried on the job's schedule; follow it with `renkei privacy status`"
)


async def _finished(hub: Hub, request_id: str, wait: float) -> PrivacyRequest:
    """The request once the server's worker has finished it, or as it is after ``wait``
    seconds (polled: the worker is another process)."""
    deadline = time.monotonic() + wait
    while True:
        request = await privacy.get_request(hub, LOCAL, request_id)
        if request.status in FINISHED or time.monotonic() >= deadline:
            return request
        await asyncio.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))


@privacy_app.command("status")
def status(
    request_id: str = typer.Argument(..., help="the privacy request's id (prq_...)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A deletion request's status per system."""

    async def action(hub: Hub) -> PrivacyRequest:
        return await privacy.get_request(hub, LOCAL, request_id)

    _show(with_hub(action), as_json)


@privacy_app.command("suppress")
def suppress(
    value: str = typer.Argument(..., help="the user id, anonymous id or email"),
    kind: str = typer.Option("email", help="user_id, anonymous_id or email"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Drop the person's events at ingest from now on (kept as a keyed hash only)."""

    async def action(hub: Hub) -> tuple[Suppression, bool]:
        return await privacy.suppress(hub, LOCAL, kind=kind, value=value, via=VIA)

    found, created = with_hub(action)
    if as_json:
        print_json(found.to_dict())
        return
    verb = "suppressed" if created else "already suppressed"
    console.print(f"{found.id} {verb} ({found.kind} {found.value_hash[:16]}…)", markup=False)


@privacy_app.command("suppressions")
def suppressions(
    limit: int = typer.Option(100, help="at most this many, newest first"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Suppressions, newest first (hashes, never values)."""

    async def action(hub: Hub) -> list[Suppression]:
        return await every(
            lambda cursor, size: privacy.list_suppressions(hub, LOCAL, limit=size, cursor=cursor),
            at_most=limit,
        )

    found = with_hub(action)
    print_rows(
        ("id", "kind", "value_hash", "covers", "created_at"),
        [(s.id, s.kind, s.value_hash, str(s.covers), s.created_at.isoformat()) for s in found],
        as_json=as_json,
        objects=[s.to_dict() for s in found],
        empty="No suppressions.",
    )


@privacy_app.command("lift")
def lift(
    suppression_id: str = typer.Argument(..., help="the suppression's id (sup_...)"),
) -> None:
    """Lift a suppression (audited): the person's events are stored again."""

    async def action(hub: Hub) -> Suppression:
        return await privacy.lift_suppression(hub, LOCAL, suppression_id, via=VIA)

    lifted = with_hub(action)
    console.print(f"{lifted.id} lifted", markup=False, highlight=False)


@privacy_app.command("export")
def export(
    profile_id: str = typer.Argument(..., help="the profile's id"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write the JSON here"),
) -> None:
    """Everything Renkei holds about a person, as one JSON document."""

    async def action(hub: Hub) -> dict[str, Any]:
        return await privacy.export_profile(hub, LOCAL, profile_id, via=VIA)

    document = with_hub(action)
    if output is None:
        print_json(document)
        return
    output.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    console.print(f"wrote {output}", markup=False, highlight=False)
