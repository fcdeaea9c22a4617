"""``renkei alerts list | ack | resolve``: the alerts of ``GET /api/v1/alerts``, through
the same use cases."""

from __future__ import annotations

from typing import Any

import typer

from renkei.alerts.model import Alert
from renkei.cli._common import console, print_json, print_rows, with_hub
from renkei.hub import Hub
from renkei.usecases import LOCAL, alerts
from renkei.usecases.paging import every

__all__ = ["alerts_app"]

alerts_app = typer.Typer(
    help="Alerts: failures grouped by cause and subject.", no_args_is_help=True
)


def _json(alert: Alert) -> dict[str, Any]:
    return alert.as_dict()


@alerts_app.command("list")
def list_alerts(
    status: str | None = typer.Option(None, help="open, acknowledged or resolved"),
    kind: str | None = typer.Option(None, help="flow_run_failed, connection_failing, ..."),
    limit: int = typer.Option(100, help="at most this many, newest first"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Alerts, newest first."""

    async def action(hub: Hub) -> list[Alert]:
        return await every(
            lambda cursor, size: alerts.list_alerts(
                hub, LOCAL, status=status, kind=kind, limit=size, cursor=cursor
            ),
            at_most=limit,
        )

    found = with_hub(action)
    rows = [
        (
            alert.id,
            alert.status,
            alert.kind,
            f"{alert.subject_type} {alert.subject_id}",
            str(alert.count),
            alert.last_seen.isoformat(),
        )
        for alert in found
    ]
    print_rows(
        ("id", "status", "kind", "subject", "count", "last_seen"),
        rows,
        as_json=as_json,
        objects=[_json(alert) for alert in found],
        empty="No alerts.",
    )


def _change(alert_id: str, as_json: bool, verb: str) -> None:
    async def action(hub: Hub) -> Alert:
        if verb == "acknowledged":
            return await alerts.acknowledge_alert(hub, LOCAL, alert_id)
        return await alerts.resolve_alert(hub, LOCAL, alert_id)

    alert = with_hub(action)
    if as_json:
        print_json(_json(alert))
        return
    console.print(f"{alert.id} {alert.status}", markup=False, highlight=False)


@alerts_app.command("ack")
def acknowledge(
    alert_id: str = typer.Argument(..., help="the alert's id"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Acknowledge an open alert: someone is on it."""
    _change(alert_id, as_json, "acknowledged")


@alerts_app.command("resolve")
def resolve(
    alert_id: str = typer.Argument(..., help="the alert's id"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Resolve an alert by hand (``alert.resolved`` is published once)."""
    _change(alert_id, as_json, "resolved")
