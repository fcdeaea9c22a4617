"""``renkei endpoints | events publish | deliveries resend | recover``: outbound webhooks.

The commands call the same services as the API, against the configured database.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from renkei.cli._common import console, err_console, with_hub
from renkei.delivery.endpoints import (
    create_endpoint,
    endpoint_health,
    list_endpoints,
    rotate_secret,
    set_disabled,
)
from renkei.delivery.problems import WebhookProblem
from renkei.delivery.publishing import publish
from renkei.events.envelope import parse_timestamp

if TYPE_CHECKING:
    from renkei.delivery.service import Webhooks
    from renkei.hub import Hub

__all__ = ["deliveries_app", "endpoints_app", "events_app", "recover_app"]

endpoints_app = typer.Typer(help="Outbound webhook endpoints.", no_args_is_help=True)
events_app = typer.Typer(help="Publish events.", no_args_is_help=True)
deliveries_app = typer.Typer(help="Webhook deliveries.", no_args_is_help=True)
recover_app = typer.Typer(help="Re-send an endpoint's failed deliveries.")


def _webhooks(hub: Hub) -> Webhooks:
    webhooks: Webhooks = hub.services["webhooks"]
    return webhooks


def _run(action: Any) -> Any:
    try:
        return with_hub(action)
    except WebhookProblem as problem:
        err_console.print(f"[red]{problem.message}[/red]")
        raise typer.Exit(1) from None


@endpoints_app.command("list")
def endpoints_list() -> None:
    """Endpoints with their health over the last 24 hours."""

    async def run(hub: Hub) -> None:
        async with hub.database.read() as connection:
            found = await list_endpoints(connection, hub.keyring, limit=10_000)
            health = await endpoint_health(connection, [e.id for e in found], now=hub.clock.now())
        table = Table("id", "name", "url", "event types", "state", "24 h success", "pending")
        for endpoint in found:
            stats = health[endpoint.id]
            rate = stats.success_rate_24h
            state = f"disabled ({endpoint.disabled_reason})" if endpoint.disabled else "active"
            table.add_row(
                endpoint.id,
                endpoint.name,
                endpoint.url,
                ", ".join(endpoint.event_types) or "(all)",
                state,
                "-" if rate is None else f"{rate:.0%}",
                str(stats.pending),
            )
        console.print(table)

    _run(run)


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
        async with hub.database.transaction() as tx:
            endpoint = await create_endpoint(
                tx, hub.keyring, fields, now=hub.clock.now(), https_only=hub.settings.https_only
            )
            await hub.audit(
                tx,
                None,
                "endpoint.created",
                target_type="endpoint",
                target_id=endpoint.id,
                details={"name": name, "via": "cli"},
            )
        return endpoint.id

    console.print(_run(run), highlight=False)


@endpoints_app.command("pause")
def endpoints_pause(endpoint_id: str) -> None:
    """Pause: new deliveries are held until the endpoint is resumed."""

    async def run(hub: Hub) -> None:
        async with hub.database.transaction() as tx:
            await set_disabled(tx, endpoint_id, True, now=hub.clock.now())
            await hub.audit(
                tx, None, "endpoint.paused", target_type="endpoint", target_id=endpoint_id
            )

    _run(run)
    console.print(f"{endpoint_id} paused")


@endpoints_app.command("resume")
def endpoints_resume(endpoint_id: str) -> None:
    """Resume and send what was held."""

    async def run(hub: Hub) -> int:
        released = await _webhooks(hub).resume(endpoint_id)
        async with hub.database.transaction() as tx:
            await hub.audit(
                tx,
                None,
                "endpoint.resumed",
                target_type="endpoint",
                target_id=endpoint_id,
                details={"released": released, "via": "cli"},
            )
        return released

    released = _run(run)
    console.print(f"{endpoint_id} resumed; {released} held deliveries queued")


@endpoints_app.command("rotate-secret")
def endpoints_rotate_secret(endpoint_id: str) -> None:
    """Issue a new signing secret (printed); the old one signs too during the grace period."""

    async def run(hub: Hub) -> str:
        async with hub.database.transaction() as tx:
            key = await rotate_secret(
                tx,
                hub.keyring,
                endpoint_id,
                now=hub.clock.now(),
                grace_seconds=hub.settings.secret_rotation_grace_seconds,
            )
            await hub.audit(
                tx,
                None,
                "endpoint.secret_rotated",
                target_type="endpoint",
                target_id=endpoint_id,
                details={"via": "cli"},
            )
        return key

    console.print(_run(run), highlight=False, soft_wrap=True)


@endpoints_app.command("test")
def endpoints_test(
    endpoint_id: str,
    event_type: str = typer.Option(..., "--event-type", "-t", help="A registered event type."),
) -> None:
    """Send the event type's example now and print what the endpoint answered."""

    async def run(hub: Hub) -> Any:
        return await _webhooks(hub).send_test(endpoint_id, event_type)

    result = _run(run)
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
        err_console.print(f"[red]--data is not JSON: {exc}[/red]")
        raise typer.Exit(2) from None

    async def run(hub: Hub) -> dict[str, Any]:
        published = await publish(
            _webhooks(hub),
            event_type=event_type,
            data=payload,
            event_id=event_id,
            idempotency_key=idempotency_key,
            source_id="cli",
        )
        return published.body

    body = _run(run)
    console.print(orjson.dumps(body).decode(), highlight=False, soft_wrap=True)


@deliveries_app.command("resend")
def deliveries_resend(delivery_id: str) -> None:
    """Send a delivery again, whatever became of it."""

    async def run(hub: Hub) -> None:
        await _webhooks(hub).resend(delivery_id)
        async with hub.database.transaction() as tx:
            await hub.audit(
                tx, None, "delivery.resent", target_type="delivery", target_id=delivery_id
            )

    _run(run)
    console.print(f"{delivery_id} queued")


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        err_console.print(f"[red]{option} is not a timestamp: {value}[/red]")
        raise typer.Exit(2)
    return parsed


@recover_app.callback(invoke_without_command=True)
def recover(
    endpoint: str = typer.Option(..., "--endpoint", help="The endpoint id."),
    since: str = typer.Option(..., help="Start of the range (ISO 8601 or unix seconds)."),
    until: str | None = typer.Option(None, help="End of the range (default: now)."),
) -> None:
    """Re-send every failed or exhausted delivery of an endpoint created in a time range."""
    start = _when(since, "--since")
    end = _when(until, "--until")
    assert start is not None

    async def run(hub: Hub) -> int:
        with Progress(
            TextColumn("recovering"), BarColumn(), MofNCompleteColumn(), console=err_console
        ) as progress:
            task = progress.add_task("recover", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            count = await _webhooks(hub).recover(endpoint, start, end, progress=step)
        async with hub.database.transaction() as tx:
            await hub.audit(
                tx,
                None,
                "endpoint.recovered",
                target_type="endpoint",
                target_id=endpoint,
                details={"since": start.isoformat(), "recovered": count, "via": "cli"},
            )
        return count

    console.print(f"{_run(run)} deliveries queued again")
