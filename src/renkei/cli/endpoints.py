"""``renkei endpoints | events publish | deliveries resend | recover``: outbound webhooks.

The commands call the same services as the API, against the configured database.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from renkei.cli._common import (
    CliError,
    console,
    err_console,
    print_json,
    print_rows,
    refusal,
    with_hub,
)
from renkei.cli.operations import resend_by_filter
from renkei.delivery.endpoints import Endpoint
from renkei.errors import Forbidden
from renkei.events.envelope import parse_timestamp
from renkei.security.redaction import REDACTED
from renkei.usecases import LOCAL, webhooks
from renkei.usecases.paging import every

if TYPE_CHECKING:
    from renkei.hub import Hub

__all__ = ["deliveries_app", "endpoints_app", "events_app", "recover_app"]

endpoints_app = typer.Typer(help="Outbound webhook endpoints.", no_args_is_help=True)
events_app = typer.Typer(help="Publish events.", no_args_is_help=True)
deliveries_app = typer.Typer(help="Webhook deliveries.", no_args_is_help=True)
recover_app = typer.Typer(help="Re-send an endpoint's failed deliveries.")

VIA = "cli"  # in the audit entries' details, as the CLI's entries always had


def _run(action: Any) -> Any:
    # Errors (RenkeiError, CliError ...) become one line in renkei.cli._common.RenkeiGroup.
    return with_hub(action)


ENDPOINT_HELP = "Endpoint id or name."


def _endpoint_dict(endpoint: Endpoint, health: Any = None) -> dict[str, Any]:
    shown = dataclasses.asdict(endpoint)
    # Custom headers may carry credentials: never print their values.
    shown["headers"] = {name: REDACTED for name in endpoint.headers}
    if health is not None:
        shown["health"] = {
            **dataclasses.asdict(health),
            "success_rate_24h": health.success_rate_24h,
        }
    return shown


@endpoints_app.command("list")
def endpoints_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Endpoints with their health over the last 24 hours."""

    async def run(hub: Hub) -> list[webhooks.EndpointView]:
        return await every(
            lambda cursor, size: webhooks.list_endpoints(hub, LOCAL, limit=size, cursor=cursor)
        )

    found = _run(run)
    rows = []
    for endpoint, stats in ((view.endpoint, view.health) for view in found):
        rate = stats.success_rate_24h
        state = f"disabled ({endpoint.disabled_reason})" if endpoint.disabled else "active"
        rows.append(
            [
                endpoint.id,
                endpoint.name,
                endpoint.url,
                ", ".join(endpoint.event_types) or "(all)",
                state,
                "-" if rate is None else f"{rate:.0%}",
                str(stats.pending),
            ]
        )
    print_rows(
        ["id", "name", "url", "event types", "state", "24 h success", "pending"],
        rows,
        as_json=as_json,
        objects=[_endpoint_dict(view.endpoint, view.health) for view in found],
        empty="No endpoints.",
    )


@endpoints_app.command("show")
def endpoints_show(endpoint: str = typer.Argument(..., help=ENDPOINT_HELP)) -> None:
    """One endpoint with its health, as JSON (header values hidden)."""

    async def run(hub: Hub) -> dict[str, Any]:
        view = await webhooks.get_endpoint(hub, LOCAL, endpoint, by_name=True)
        return _endpoint_dict(view.endpoint, view.health)

    print_json(_run(run))


@endpoints_app.command("delete")
def endpoints_delete(endpoint: str = typer.Argument(..., help=ENDPOINT_HELP)) -> None:
    """Delete an endpoint: its open deliveries are cancelled, its history stays."""

    async def run(hub: Hub) -> webhooks.Deleted:
        return await webhooks.delete_endpoint(hub, LOCAL, endpoint, by_name=True, via=VIA)

    deleted = _run(run)
    console.print(
        f"{deleted.endpoint_id} deleted; {deleted.cancelled} open deliveries cancelled",
        highlight=False,
    )


@endpoints_app.command("secret")
def endpoints_secret(endpoint: str = typer.Argument(..., help=ENDPOINT_HELP)) -> None:
    """Print the current signing secret (whsec_...), bare (audited)."""

    async def run(hub: Hub) -> str:
        return await webhooks.reveal_secret(hub, LOCAL, endpoint, by_name=True, via=VIA)

    console.print(_run(run), highlight=False, soft_wrap=True, markup=False)


@endpoints_app.command("create")
def endpoints_create(
    name: str = typer.Option(..., help="A name people recognise."),
    url: str = typer.Option(..., help="Where to POST the webhooks."),
    event_type: list[str] = typer.Option([], "--event-type", "-t", help="Repeat; none: all."),
    description: str = typer.Option("", help="What the endpoint is for."),
    rate_limit: float | None = typer.Option(None, help="Deliveries per second at most."),
    timeout: float | None = typer.Option(None, help="Seconds per attempt (default 15, max 30)."),
    ordered: bool = typer.Option(False, help="FIFO: deliver in publish order."),
    ordering_key: str | None = typer.Option(None, help="FIFO per value of this path."),
) -> None:
    """Create an endpoint; prints its id (reveal the secret with the API or ``renkei
    endpoints rotate-secret``)."""

    async def run(hub: Hub) -> str:
        fields: dict[str, Any] = {
            "name": name,
            "url": url,
            "description": description,
            "event_types": event_type,
            "timeout_seconds": timeout,
            "rate_limit_per_second": rate_limit,
            "ordered": ordered or ordering_key is not None,
            "ordering_key": ordering_key,
        }
        return (await webhooks.create_endpoint(hub, LOCAL, fields, via=VIA)).id

    console.print(_run(run), highlight=False)


@endpoints_app.command("pause")
def endpoints_pause(endpoint: str = typer.Argument(..., help=ENDPOINT_HELP)) -> None:
    """Pause: new deliveries are held until the endpoint is resumed."""

    async def run(hub: Hub) -> webhooks.Paused:
        return await webhooks.pause_endpoint(hub, LOCAL, endpoint, by_name=True, via=VIA)

    paused = _run(run)
    found = paused.endpoint
    label = f"{found.name} ({found.id})"
    if paused.changed:
        console.print(f"{label} paused", highlight=False)
    else:
        console.print(f"{label} was already {found.disabled_reason or 'paused'}", highlight=False)


@endpoints_app.command("resume")
def endpoints_resume(endpoint: str = typer.Argument(..., help=ENDPOINT_HELP)) -> None:
    """Resume and send what was held."""

    async def run(hub: Hub) -> webhooks.Resumed:
        return await webhooks.resume_endpoint(hub, LOCAL, endpoint, by_name=True, via=VIA)

    resumed = _run(run)
    found: Endpoint = resumed.endpoint
    console.print(
        f"{found.name} ({found.id}) resumed; {resumed.released} held deliveries queued",
        highlight=False,
    )


@endpoints_app.command("rotate-secret")
def endpoints_rotate_secret(endpoint: str = typer.Argument(..., help=ENDPOINT_HELP)) -> None:
    """Issue a new signing secret (printed); the old one signs too during the grace period."""

    async def run(hub: Hub) -> str:
        return await webhooks.rotate_secret(hub, LOCAL, endpoint, by_name=True, via=VIA)

    console.print(_run(run), highlight=False, soft_wrap=True)


@endpoints_app.command("test")
def endpoints_test(
    endpoint: str = typer.Argument(..., help=ENDPOINT_HELP),
    event_type: str = typer.Option(
        ..., "--event-type", "-t", help="An event type, registered or not (as publishing)."
    ),
) -> None:
    """Send the event type's example now and print what the endpoint answered."""

    async def run(hub: Hub) -> Any:
        return await webhooks.send_test(hub, LOCAL, endpoint, event_type, by_name=True)

    result = _run(run)
    if result.refused:  # Renkei refused to send: a refusal like any other, not an answer
        raise refusal(Forbidden(result.error or "refused by the target policy"))
    colour = "green" if result.success else "red"
    console.print(
        f"[{colour}]{result.status_code or result.error}[/{colour}] in {result.duration_ms:.0f} ms"
    )
    if result.response_body:
        console.print(result.response_body, highlight=False, markup=False)
    if not result.success:
        raise typer.Exit(1)


@events_app.command("publish")
def events_publish(
    event_type: str = typer.Option(..., "--type", "-t", help="The event type."),
    data: str = typer.Option("{}", help="The payload, as JSON."),
    event_id: str | None = typer.Option(None, "--id", help="Keep this id (dedupe key)."),
    idempotency_key: str | None = typer.Option(None, help="Same key within 24 h: same answer."),
) -> None:
    """Publish an event: it and its deliveries are stored in one transaction."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CliError(f"--data is not JSON: {exc}") from None

    async def run(hub: Hub) -> dict[str, Any]:
        published = await webhooks.publish(
            hub,
            LOCAL,
            event_type=event_type,
            data=payload,
            event_id=event_id,
            idempotency_key=idempotency_key,
            source_id="cli",
        )
        return published.body

    body = _run(run)
    console.print(orjson.dumps(body).decode(), highlight=False, soft_wrap=True)


@deliveries_app.command("list")
def deliveries_list(
    endpoint: str | None = typer.Option(None, "--endpoint", help=ENDPOINT_HELP),
    status: str | None = typer.Option(None, help="pending, succeeded, failed, exhausted ..."),
    event: str | None = typer.Option(None, "--event", help="Only this event's deliveries."),
    limit: int = typer.Option(50, min=1, max=10_000, help="How many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recent deliveries, newest first."""

    async def run(hub: Hub) -> list[dict[str, Any]]:
        endpoint_id = None
        if endpoint is not None:
            endpoint_id = (
                await webhooks.get_endpoint(hub, LOCAL, endpoint, by_name=True)
            ).endpoint.id
        return await every(
            lambda cursor, size: webhooks.list_deliveries(
                hub,
                LOCAL,
                limit=size,
                cursor=cursor,
                endpoint_id=endpoint_id,
                status=status,
                event_id=event,
            ),
            at_most=limit,
        )

    found = _run(run)

    def when(value: datetime | None) -> str:
        return value.isoformat(timespec="seconds") if value else ""

    rows = [
        [
            row["id"],
            row["event_id"],
            row["endpoint_id"],
            row["event_type"],
            row["status"],
            str(row["attempts"]),
            "" if row["last_status_code"] is None else str(row["last_status_code"]),
            when(row["created_at"]),
        ]
        for row in found
    ]
    print_rows(
        ["id", "event", "endpoint", "type", "status", "attempts", "last code", "created"],
        rows,
        as_json=as_json,
        objects=found,
        empty="No deliveries.",
    )


@deliveries_app.command("resend")
def deliveries_resend(
    delivery_id: str | None = typer.Argument(None, help="One delivery's id."),
    filters: list[str] = typer.Option(
        [],
        "--filter",
        help="Or every delivery picked: endpoint=, event_type=, status= (repeatable), "
        "since=, until=; failed and exhausted unless status says otherwise.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (with --filter)."),
) -> None:
    """Send a delivery again, whatever became of it; or, with --filter, many, across
    endpoints, with a progress bar."""
    if filters:
        if delivery_id is not None:
            raise CliError("give a delivery id or --filter, not both")
        resend_by_filter(filters, as_json)
        return
    if delivery_id is None:
        raise CliError("give a delivery id, or --filter KEY=VALUE")

    async def run(hub: Hub) -> None:
        await webhooks.resend(hub, LOCAL, delivery_id, via=VIA)

    _run(run)
    console.print(f"{delivery_id} queued")


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        raise CliError(f"{option} is not a timestamp (ISO 8601 or unix seconds): {value}")
    return parsed


@recover_app.callback(invoke_without_command=True)
def recover(
    endpoint: str = typer.Option(..., "--endpoint", help=ENDPOINT_HELP),
    since: str = typer.Option(..., help="Start of the range (ISO 8601 or unix seconds)."),
    until: str | None = typer.Option(None, help="End of the range (default: now)."),
) -> None:
    """Re-send every failed or exhausted delivery of an endpoint created in a time range."""
    start = _when(since, "--since")
    end = _when(until, "--until")
    assert start is not None

    async def run(hub: Hub) -> int:
        # Found first: an unknown endpoint is one line, without a progress bar above it.
        endpoint_id = (await webhooks.get_endpoint(hub, LOCAL, endpoint, by_name=True)).endpoint.id
        with Progress(
            TextColumn("recovering"), BarColumn(), MofNCompleteColumn(), console=err_console
        ) as progress:
            task = progress.add_task("recover", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return await webhooks.recover(
                hub,
                LOCAL,
                endpoint_id,
                since=start,
                until=end,
                progress=step,
                via=VIA,
            )

    console.print(f"{_run(run)} deliveries queued again")
