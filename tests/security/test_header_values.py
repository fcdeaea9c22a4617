"""Issue 21, defect 2: the value of every custom header of an endpoint is a secret, whatever
its name. It is never echoed, listed, shown in attempts, logged or stored in plaintext."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from renkei.store import Database
from tests.delivery.test_delivery_e2e import deliveries_of
from tests.delivery.webhook_receiver import Receiver, wait_until
from tests.support.rawscan import assert_not_in_files, assert_not_stored
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.timeout(120)

PARTNER_ID = "partner-7f3a9c2e41d8"  # a name that does not look secret
TENANT = "tenant-b91e07d2c3aa"
BEARER = "Bearer upstream-credential-5e2d77a1"
REDACTED = "[redacted]"


def _token(admin: httpx.Client, scope: str) -> str:
    issued = admin.post("/api/v1/tokens", json={"name": f"{scope}-token", "scope": scope})
    assert issued.status_code == 201, issued.text
    token: str = issued.json()["token"]
    return token


def _get(client: httpx.Client, path: str) -> httpx.Response:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response


def _values(text: str) -> list[str]:
    return [
        secret for secret in (PARTNER_ID, TENANT, BEARER, "upstream-credential") if secret in text
    ]


async def test_custom_header_values_are_never_shown_logged_or_stored(
    database_url: str, database: Database, capfd: pytest.CaptureFixture[str]
) -> None:
    with (
        Receiver() as receiver,
        running_hub(
            database_url,
            retry_schedule=(0.2, 0.4, 0.8),
            retry_jitter=0.0,
            worker_poll_interval=0.05,
        ) as (base_url, _),
    ):
        admin = admin_client(base_url)
        reader = admin_client(base_url, _token(admin, "read"))
        writer = admin_client(base_url, _token(admin, "write"))
        assert admin.post("/api/v1/event-types", json={"name": "partner.synced"}).status_code == 201

        created = writer.post(
            "/api/v1/endpoints",
            json={
                "name": "partner",
                "url": receiver.url,
                "headers": {"X-Partner-Id": PARTNER_ID, "Authorization": BEARER},
            },
        )
        assert created.status_code == 201, created.text
        assert _values(created.text) == []
        endpoint: dict[str, Any] = created.json()
        assert endpoint["headers"] == {"X-Partner-Id": REDACTED, "Authorization": REDACTED}

        changed = writer.patch(
            f"/api/v1/endpoints/{endpoint['id']}",
            json={"headers": {"X-Partner-Id": PARTNER_ID, "X-Tenant": TENANT}},
        )
        assert changed.status_code == 200, changed.text
        assert _values(changed.text) == []
        assert changed.json()["headers"] == {"X-Partner-Id": REDACTED, "X-Tenant": REDACTED}
        secret = _get(admin, f"/api/v1/endpoints/{endpoint['id']}/secret").json()["key"]

        event = writer.post("/api/v1/events", json={"type": "partner.synced", "data": {"n": 1}})
        assert event.status_code == 201, event.text
        tested = writer.post(
            f"/api/v1/endpoints/{endpoint['id']}/test", json={"event_type": "partner.synced"}
        )
        assert tested.status_code == 200 and tested.json()["success"], tested.text
        wait_until(lambda: len(receiver.snapshot()) >= 2)
        # The receiver gets the real values: only their display is redacted.
        assert {r.headers["x-partner-id"] for r in receiver.snapshot()} == {PARTNER_ID}
        assert {r.headers["x-tenant"] for r in receiver.snapshot()} == {TENANT}
        event_id = event.json()["id"]
        wait_until(lambda: deliveries_of(admin, event_id)[0]["status"] == "succeeded")
        delivery_id = deliveries_of(admin, event_id)[0]["id"]

        attempts = _get(reader, f"/api/v1/endpoints/{endpoint['id']}/attempts").json()["data"]
        assert {a["trigger"] for a in attempts} == {"scheduled", "test"}
        for attempt in attempts:
            headers = attempt["request_headers"]
            assert headers["x-partner-id"] == REDACTED and headers["x-tenant"] == REDACTED
            assert headers["webhook-id"] and headers["content-type"] == "application/json"

        shown = "\n".join(
            _get(client, path).text
            for client in (reader, admin)
            for path in (
                "/api/v1/endpoints",
                f"/api/v1/endpoints/{endpoint['id']}",
                f"/api/v1/endpoints/{endpoint['id']}/attempts",
                f"/api/v1/deliveries/{delivery_id}",
                f"/api/v1/deliveries/{delivery_id}/attempts",
                f"/api/v1/events/{event_id}/deliveries",
            )
        )
        shown += _get(admin, "/api/v1/audit").text
        assert _values(shown) == []
        assert secret not in shown
        assert_not_in_files(database_url, PARTNER_ID, TENANT, "upstream-credential", secret)

    await assert_not_stored(database, PARTNER_ID, TENANT, "upstream-credential", secret)
    assert_not_in_files(database_url, PARTNER_ID, TENANT, "upstream-credential", secret)
    logs = capfd.readouterr()
    assert _values(logs.out + logs.err) == []
    assert secret not in logs.out + logs.err


async def test_attempts_recorded_before_the_fix_are_shown_redacted(
    database_url: str, database: Database
) -> None:
    """An attempt log written by an older version holds header values in plaintext: no
    view shows them."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from renkei.store.tables.webhooks import delivery_attempts

    with Receiver() as receiver, running_hub(database_url, with_worker=False) as (base_url, _):
        admin = admin_client(base_url)
        reader = admin_client(base_url, _token(admin, "read"))
        endpoint = admin.post(
            "/api/v1/endpoints",
            json={"name": "old", "url": receiver.url, "headers": {"X-Partner-Id": PARTNER_ID}},
        ).json()
        event = admin.post("/api/v1/events", json={"type": "t", "data": {}}).json()
        delivery_id = deliveries_of(admin, event["id"])[0]["id"]
        async with database.transaction() as tx:
            await tx.execute(
                insert(delivery_attempts).values(
                    delivery_id=delivery_id,
                    endpoint_id=endpoint["id"],
                    event_id=event["id"],
                    attempt=1,
                    trigger="scheduled",
                    started_at=datetime.now(UTC),
                    url=receiver.url,
                    request_headers={"webhook-id": event["id"], "x-partner-id": PARTNER_ID},
                    status_code=200,
                    response_headers={},
                    response_body="ok",
                    duration_ms=1.0,
                    success=True,
                )
            )
        shown = "\n".join(
            _get(reader, path).text
            for path in (
                f"/api/v1/endpoints/{endpoint['id']}/attempts",
                f"/api/v1/deliveries/{delivery_id}",
                f"/api/v1/deliveries/{delivery_id}/attempts",
            )
        )
        assert PARTNER_ID not in shown
        assert event["id"] in shown and "x-partner-id" in shown
