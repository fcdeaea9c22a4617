"""The management API of outbound webhooks: event types, endpoints, secrets, publishing."""

from __future__ import annotations

import asyncio
from typing import Any

from renkei.security.keyring import generate_key
from renkei.store import Database
from tests.delivery.test_delivery_e2e import FAST, deliveries_of, make_endpoint
from tests.delivery.webhook_receiver import Receiver, verify, wait_until
from tests.support.rawscan import assert_not_stored
from tests.support.server import admin_client, running_hub

RECEIPT_SCHEMA = {
    "type": "object",
    "required": ["receipt_id", "amount"],
    "properties": {"receipt_id": {"type": "string"}, "amount": {"type": "number"}},
}


def users_types(client: Any, **params: Any) -> list[dict[str, Any]]:
    """The catalog without Renkei's own types (failures and alerts)."""
    listed = client.get("/api/v1/event-types", params=params).json()["data"]
    return [kind for kind in listed if not kind["system"]]


def test_renkei_s_own_event_types_are_in_the_catalog_and_read_only(database_url: str) -> None:
    with running_hub(database_url, with_worker=False) as (base_url, _):
        client = admin_client(base_url)
        client.post("/api/v1/event-types", json={"name": "connection.zzz"})
        client.post("/api/v1/event-types", json={"name": "alert.aaa"})
        listed = client.get("/api/v1/event-types").json()["data"]
        system = {kind["name"]: kind for kind in listed if kind["system"]}
        assert set(system) == {
            "alert.opened",
            "alert.resolved",
            "connection.failing",
            "connection.needs_reauth",
            "connection.recovered",
            "flow.run.failed",
            "sync.run.failed",
        }
        failed = system["flow.run.failed"]
        assert failed["schema"]["required"] == ["flow_id", "reason", "run_id"]
        assert set(failed["example"]) >= {"flow_id", "run_id", "reason"}
        names = [kind["name"] for kind in listed]
        assert names == sorted(names) and "alert.aaa" in names and "connection.zzz" in names

        # Page by page, two at a time: every type once, in order.
        paged: list[str] = []
        cursor = None
        while True:
            page = client.get(
                "/api/v1/event-types", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
            ).json()
            paged += [kind["name"] for kind in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert paged == names

        one = client.get("/api/v1/event-types/sync.run.failed")
        assert one.status_code == 200 and one.json()["system"] is True
        refusals = (
            client.post("/api/v1/event-types", json={"name": "alert.opened"}),
            client.patch("/api/v1/event-types/alert.opened", json={"description": "mine"}),
            client.delete("/api/v1/event-types/alert.opened"),
        )
        for refused in refusals:
            assert refused.status_code == 409, refused.text
            assert "Renkei's own" in refused.json()["error"]["message"]
        # An endpoint subscribes to them like to any type.
        endpoint = client.post(
            "/api/v1/endpoints",
            json={
                "name": "on-call",
                "url": "https://oncall.example.com/hook",
                "event_types": ["flow.run.failed", "alert.opened"],
            },
        )
        assert endpoint.status_code == 201, endpoint.text


def test_event_types_schema_and_publish_validation(database_url: str) -> None:
    with running_hub(database_url, with_worker=False) as (base_url, _):
        client = admin_client(base_url)
        created = client.post(
            "/api/v1/event-types",
            json={
                "name": "receipt.receipt_validated",
                "description": "A receipt passed validation",
                "schema": RECEIPT_SCHEMA,
                "example": {"receipt_id": "r-1", "amount": 120},
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["schema"] == RECEIPT_SCHEMA
        assert (
            client.post(
                "/api/v1/event-types", json={"name": "receipt.receipt_validated"}
            ).status_code
            == 409
        )
        bad_schema = client.post(
            "/api/v1/event-types", json={"name": "x", "schema": {"type": "nope"}}
        )
        assert bad_schema.status_code == 422
        bad_example = client.post(
            "/api/v1/event-types",
            json={"name": "y", "schema": RECEIPT_SCHEMA, "example": {"receipt_id": 1}},
        )
        assert bad_example.status_code == 422

        broken = client.post(
            "/api/v1/events",
            json={
                "type": "receipt.receipt_validated",
                "data": {"receipt_id": "r", "amount": "lots"},
            },
        )
        assert broken.status_code == 422
        error = broken.json()["error"]
        assert error["code"] == "schema_violation"
        assert error["details"][0]["path"] == "data.amount"
        assert "data.amount" in error["message"]
        missing = client.post(
            "/api/v1/events", json={"type": "receipt.receipt_validated", "data": {}}
        )
        assert missing.status_code == 422
        fine = client.post(
            "/api/v1/events",
            json={"type": "receipt.receipt_validated", "data": {"receipt_id": "r", "amount": 1.5}},
        )
        assert fine.status_code == 201

        names = [t["name"] for t in users_types(client)]
        assert names == ["receipt.receipt_validated"]
        assert client.delete("/api/v1/event-types/receipt.receipt_validated").status_code == 204
        assert users_types(client) == []
        archived = users_types(client, include_archived=True)
        assert archived[0]["archived"] is True
        generated = client.post(
            "/api/v1/event-types", json={"name": "gen", "schema": RECEIPT_SCHEMA}
        )
        assert generated.json()["example"] == {"receipt_id": "string", "amount": 0}


def test_idempotency_key_and_given_ids(database_url: str) -> None:
    with Receiver() as receiver, running_hub(database_url, **FAST) as (base_url, _):
        client = admin_client(base_url)
        make_endpoint(client, receiver.url)
        body = {"type": "pnp.status_updated", "data": {"status": "delivered"}}
        first = client.post("/api/v1/events", json=body, headers={"Idempotency-Key": "k-1"})
        again = client.post("/api/v1/events", json=body, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()
        assert again.headers.get("idempotent-replayed") == "true"
        other = client.post(
            "/api/v1/events",
            json={**body, "data": {"status": "x"}},
            headers={"Idempotency-Key": "k-1"},
        )
        assert (
            other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
        )

        given = client.post("/api/v1/events", json={**body, "id": "maac-123"})
        assert given.status_code == 201 and given.json()["id"] == "maac-123"
        duplicate = client.post("/api/v1/events", json={**body, "id": "maac-123"})
        assert duplicate.status_code == 200 and duplicate.json()["id"] == "maac-123"

        wait_until(lambda: len(receiver.requests) >= 2)
        wait_until(lambda: deliveries_of(client, "maac-123")[0]["status"] == "succeeded")
        assert sorted(receiver.ids()) == sorted([first.json()["id"], "maac-123"])
        assert len(deliveries_of(client, "maac-123")) == 1


def test_endpoint_lifecycle_secrets_and_health(database_url: str) -> None:
    with Receiver() as receiver, running_hub(database_url, **FAST) as (base_url, hub):
        client = admin_client(base_url)
        bad = client.post("/api/v1/endpoints", json={"name": "x", "url": "ftp://example.com"})
        assert bad.status_code == 422
        too_slow = client.post(
            "/api/v1/endpoints", json={"name": "x", "url": receiver.url, "timeout_seconds": 31}
        )
        assert too_slow.status_code == 422
        bad_filter = client.post(
            "/api/v1/endpoints",
            json={"name": "x", "url": receiver.url, "filter": {"data.a": {"$nope": 1}}},
        )
        assert bad_filter.status_code == 422 and "$nope" in bad_filter.json()["error"]["message"]
        reserved = client.post(
            "/api/v1/endpoints",
            json={"name": "x", "url": receiver.url, "headers": {"webhook-id": "x"}},
        )
        assert reserved.status_code == 422

        endpoint = make_endpoint(
            client,
            receiver.url,
            description="points system",
            event_types=["prize.points_added"],
            headers={"Authorization": "Bearer receiver-credential-123456"},
        )
        assert endpoint["timeout_seconds"] == 15
        assert endpoint["secret"].startswith("whsec_")
        listed = client.get("/api/v1/endpoints").json()["data"]
        assert [e["id"] for e in listed] == [endpoint["id"]]
        text = (
            client.get("/api/v1/endpoints").text
            + client.get(f"/api/v1/endpoints/{endpoint['id']}").text
        )
        assert endpoint["secret"] not in text and "receiver-credential-123456" not in text

        event = client.post(
            "/api/v1/events", json={"type": "prize.points_added", "data": {"points": 5}}
        ).json()
        wait_until(lambda: len(receiver.requests) == 1)
        assert receiver.requests[0].headers["authorization"] == "Bearer receiver-credential-123456"
        verify(endpoint["secret"], receiver.requests[0])
        wait_until(lambda: deliveries_of(client, event["id"])[0]["status"] == "succeeded")
        health = client.get(f"/api/v1/endpoints/{endpoint['id']}").json()["health"]
        assert health["success_rate_24h"] == 1.0 and health["last_status_code"] == 200
        attempts = client.get(f"/api/v1/endpoints/{endpoint['id']}/attempts").json()["data"]
        assert attempts[0]["request_headers"]["webhook-signature"] == "[redacted]"
        assert attempts[0]["request_headers"]["authorization"] == "[redacted]"
        assert attempts[0]["response_body"] == "received"

        # Pause: deliveries are held; resume sends them.
        paused = client.patch(f"/api/v1/endpoints/{endpoint['id']}", json={"disabled": True})
        assert paused.json()["disabled"] is True and paused.json()["disabled_reason"] == "paused"
        held = client.post(
            "/api/v1/events", json={"type": "prize.points_added", "data": {"points": 6}}
        ).json()
        assert deliveries_of(client, held["id"])[0]["status"] == "held"
        assert (
            client.patch(f"/api/v1/endpoints/{endpoint['id']}", json={"disabled": False}).json()[
                "disabled"
            ]
            is False
        )
        wait_until(lambda: deliveries_of(client, held["id"])[0]["status"] == "succeeded")

        # Rotation returns the new key; the reveal is audited, the secret never is.
        rotated = client.post(f"/api/v1/endpoints/{endpoint['id']}/secret/rotate").json()["key"]
        assert rotated != endpoint["secret"]
        assert client.get(f"/api/v1/endpoints/{endpoint['id']}/secret").json()["key"] == rotated
        audit = client.get("/api/v1/audit", params={"target_id": endpoint["id"]}).json()["data"]
        actions = [entry["action"] for entry in audit]
        assert (
            actions.count("endpoint.secret_revealed") == 2 and "endpoint.secret_rotated" in actions
        )
        assert endpoint["secret"] not in str(audit) and rotated not in str(audit)

        # Delete: pending deliveries are cancelled, history stays.
        client.patch(f"/api/v1/endpoints/{endpoint['id']}", json={"disabled": True})
        pending = client.post(
            "/api/v1/events", json={"type": "prize.points_added", "data": {}}
        ).json()
        assert client.delete(f"/api/v1/endpoints/{endpoint['id']}").status_code == 204
        assert client.get(f"/api/v1/endpoints/{endpoint['id']}").status_code == 404
        assert deliveries_of(client, pending["id"])[0]["status"] == "cancelled"
        assert deliveries_of(client, event["id"])[0]["status"] == "succeeded"

        async def scan() -> None:
            database = Database(database_url)
            try:
                await assert_not_stored(
                    database, endpoint["secret"], rotated, "receiver-credential-123456"
                )
            finally:
                await database.dispose()

        asyncio.run(scan())
        assert hub is not None


def test_filters_and_track_names_pick_endpoints(database_url: str) -> None:
    with Receiver() as receiver, running_hub(database_url, **FAST) as (base_url, _):
        client = admin_client(base_url)
        big = make_endpoint(client, receiver.url + "/big", filter={"data.amount": {"$gte": 100}})
        orders = make_endpoint(client, receiver.url + "/orders", event_types=["Order Completed"])
        small = client.post("/api/v1/events", json={"type": "order", "data": {"amount": 5}}).json()
        large = client.post(
            "/api/v1/events", json={"type": "order", "data": {"amount": 500}}
        ).json()
        assert small["deliveries"] == 0 and large["deliveries"] == 1
        assert deliveries_of(client, large["id"])[0]["endpoint_id"] == big["id"]
        assert orders["id"]


def test_send_test_answers_synchronously_and_ssrf_guard(database_url: str) -> None:
    def answer(_: Any, __: int) -> Any:
        return 202

    key = [generate_key()]
    with Receiver(answer) as receiver:
        with running_hub(database_url, with_worker=False, secret_key=key) as (base_url, _):
            client = admin_client(base_url)
            client.post(
                "/api/v1/event-types",
                json={
                    "name": "form.surveycake_submitted",
                    "schema": {"type": "object", "properties": {"svid": {"type": "string"}}},
                },
            )
            endpoint = make_endpoint(client, receiver.url)
            result = client.post(
                f"/api/v1/endpoints/{endpoint['id']}/test",
                json={"event_type": "form.surveycake_submitted"},
            )
            assert result.status_code == 200, result.text
            body = result.json()
            assert body["success"] is True and body["status_code"] == 202
            assert body["response_body"] == "received" and body["duration_ms"] > 0
            sent = verify(endpoint["secret"], receiver.requests[-1])
            assert sent == {
                "type": "form.surveycake_submitted",
                "timestamp": sent["timestamp"],
                "data": {"svid": "string"},
            }
            # A type publishing accepts is testable too, registered or not (issue 14, 16):
            # the tracking API's types get a message shaped like the tracking API's.
            for unregistered in ("track", "order.shipped"):
                tested = client.post(
                    f"/api/v1/endpoints/{endpoint['id']}/test", json={"event_type": unregistered}
                )
                assert tested.status_code == 200, tested.text
                assert tested.json()["success"] is True
                sent = verify(endpoint["secret"], receiver.requests[-1])
                assert sent["type"] == unregistered
            assert sent["data"] == {}
            track = verify(endpoint["secret"], receiver.requests[-2])["data"]
            assert track["type"] == "track" and track["event"] and track["userId"]
            unnamed = client.post(
                f"/api/v1/endpoints/{endpoint['id']}/test", json={"event_type": " "}
            )
            assert unnamed.status_code in (400, 422), unnamed.text
            attempts = client.get(f"/api/v1/endpoints/{endpoint['id']}/attempts").json()["data"]
            assert {attempt["trigger"] for attempt in attempts} == {"test"}

            # A metadata literal is refused when saved, even with private targets allowed.
            metadata = client.post(
                "/api/v1/endpoints",
                json={"name": "imds", "url": "http://169.254.169.254/latest/meta-data/"},
            )
            assert metadata.status_code == 422
            error = metadata.json()["error"]
            assert error["code"] == "target_refused" and "metadata" in error["message"]

        # The default: private targets are refused at connect time.
        before = len(receiver.requests)
        with running_hub(
            database_url, with_worker=False, allow_private_targets=False, secret_key=key
        ) as (base_url, _):
            client = admin_client(base_url)
            refused = client.post(
                f"/api/v1/endpoints/{endpoint['id']}/test",
                json={"event_type": "form.surveycake_submitted"},
            ).json()
            assert refused["success"] is False and refused["status_code"] is None
            assert "127.0.0.1" in refused["error"]
            named = make_endpoint(client, f"http://localhost:{receiver.port}/hook")
            refused = client.post(
                f"/api/v1/endpoints/{named['id']}/test",
                json={"event_type": "form.surveycake_submitted"},
            ).json()
            assert refused["success"] is False and "refused" in refused["error"]
        assert len(receiver.requests) == before
        with running_hub(
            database_url,
            with_worker=False,
            allow_private_targets=False,
            allowed_target_networks=["127.0.0.0/8"],
            secret_key=key,
        ) as (base_url, _):
            client = admin_client(base_url)
            allowed = client.post(
                f"/api/v1/endpoints/{endpoint['id']}/test",
                json={"event_type": "form.surveycake_submitted"},
            ).json()
            assert allowed["success"] is True


def test_a_cursor_that_is_not_a_position_is_a_400(database_url: str) -> None:
    """A deliveries cursor holding text (not a sequence number) was an unhandled 500."""
    from renkei.usecases.paging import encode_cursor

    with running_hub(database_url, with_worker=False) as (base_url, _):
        client = admin_client(base_url)
        for path in ("/api/v1/deliveries", "/api/v1/events"):
            answer = client.get(path, params={"cursor": encode_cursor("text")})
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["code"] == "invalid_cursor"
