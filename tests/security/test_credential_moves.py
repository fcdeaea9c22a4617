"""Issue 21, defect 3: a ``write`` token may not send stored credentials somewhere else.

Changing where credentials go (a connection's host, an endpoint's host while it has custom
headers, a flow's signed target) needs an ``admin`` token or the credentials given again; the
move is in the audit log, the credentials are not. A host a write token names (a recording
server on loopback) must never receive a stored credential."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from renkei.sandbox import MarketoSandboxConfig, create_marketo_app, serve_in_thread
from tests.delivery.webhook_receiver import Receiver, wait_until
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.timeout(120)

CLIENT_SECRET = "marketo-client-secret-4c1d9e"
BEARER = "Bearer partner-credential-8a2f61"
FAST = {"retry_schedule": (0.2, 0.4), "retry_jitter": 0.0, "worker_poll_interval": 0.05}


@dataclass
class Recorder:
    """An ASGI app that answers 200 to anything and records what it was sent."""

    seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = " ".join(f"{k.decode()}={v.decode()}" for k, v in scope["headers"])
        with self.lock:
            self.seen.append(f"{scope['path']}?{scope['query_string'].decode()} {headers} {body!r}")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    def text(self) -> str:
        with self.lock:
            return "\n".join(self.seen)


@pytest.fixture
def attacker() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with serve_in_thread(recorder) as base_url:  # type: ignore[arg-type]
        yield base_url, recorder


@pytest.fixture
def marketo_url() -> Iterator[str]:
    config = MarketoSandboxConfig(client_secret=CLIENT_SECRET)
    with serve_in_thread(create_marketo_app(config).app) as base_url:
        yield base_url


def _client(admin: httpx.Client, base_url: str, scope: str) -> httpx.Client:
    issued = admin.post("/api/v1/tokens", json={"name": scope, "scope": scope})
    assert issued.status_code == 201, issued.text
    return admin_client(base_url, issued.json()["token"])


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "forbidden" and "admin" in error["message"]


def _audit(admin: httpx.Client, target_id: str, action: str) -> list[dict[str, Any]]:
    entries = admin.get("/api/v1/audit", params={"target_id": target_id}).json()["data"]
    return [entry for entry in entries if entry["action"] == action]


def test_connection_host(database_url: str, marketo_url: str, attacker: Any) -> None:
    attacker_url, recorder = attacker
    with running_hub(database_url, with_worker=False) as (base_url, _):
        admin = admin_client(base_url)
        writer = _client(admin, base_url, "write")
        created = admin.post(
            "/api/v1/connections",
            json={
                "name": "mkto",
                "connector": "marketo",
                "config": {"base_url": marketo_url},
                "credentials": {"client_id": "renkei-sandbox", "client_secret": CLIENT_SECRET},
            },
        )
        assert created.status_code == 201, created.text
        ref = created.json()["id"]

        # write: the host, or an identity endpoint elsewhere, may not change ...
        for config in (
            {"base_url": attacker_url},
            {"base_url": marketo_url, "identity_url": f"{attacker_url}/identity"},
        ):
            _refused(writer.patch(f"/api/v1/connections/{ref}", json={"config": config}))
        # ... not even with only part of the credentials given again.
        _refused(
            writer.patch(
                f"/api/v1/connections/{ref}",
                json={"config": {"base_url": attacker_url}, "credentials": {"client_id": "x"}},
            )
        )
        assert admin.get(f"/api/v1/connections/{ref}").json()["config"] == {"base_url": marketo_url}
        tested = writer.post(f"/api/v1/connections/{ref}/test")
        assert tested.status_code == 200 and tested.json()["ok"] is True, tested.text
        assert recorder.text() == ""

        # Other changes stay open to write.
        same = writer.patch(
            f"/api/v1/connections/{ref}",
            json={"config": {"base_url": marketo_url, "lookup_field": "id"}},
        )
        assert same.status_code == 200, same.text

        # write, giving every credential again: allowed (nothing stored goes anywhere new).
        reentered = writer.patch(
            f"/api/v1/connections/{ref}",
            json={
                "config": {"base_url": attacker_url},
                "credentials": {"client_id": "mine", "client_secret": "my-own-secret"},
            },
        )
        assert reentered.status_code == 200, reentered.text
        # admin: allowed.
        back = admin.patch(
            f"/api/v1/connections/{ref}",
            json={
                "config": {"base_url": marketo_url},
                "credentials": {"client_id": "renkei-sandbox", "client_secret": CLIENT_SECRET},
            },
        )
        assert back.status_code == 200, back.text
        moved = admin.patch(
            f"/api/v1/connections/{ref}", json={"config": {"base_url": attacker_url}}
        )
        assert moved.status_code == 200, moved.text

        entries = _audit(admin, ref, "connection.target_changed")
        assert [e["details"]["given_again"] for e in entries] == [
            [],
            ["client_id", "client_secret"],
            ["client_id", "client_secret"],
        ]
        assert entries[0]["actor"] == entries[1]["actor"] != entries[2]["actor"]  # admin, write
        assert entries[0]["details"]["to"] == [attacker_url]
        assert entries[0]["details"]["from"] == [marketo_url]
        assert CLIENT_SECRET not in admin.get("/api/v1/audit").text


def test_endpoint_host_while_it_has_custom_headers(database_url: str) -> None:
    with (
        Receiver() as partner,
        Receiver() as other,
        running_hub(database_url, **FAST) as (base_url, _),  # type: ignore[arg-type]
    ):
        admin = admin_client(base_url)
        writer = _client(admin, base_url, "write")
        created = admin.post(
            "/api/v1/endpoints",
            json={"name": "partner", "url": partner.url, "headers": {"Authorization": BEARER}},
        )
        assert created.status_code == 201, created.text
        endpoint_id = created.json()["id"]

        _refused(writer.patch(f"/api/v1/endpoints/{endpoint_id}", json={"url": other.url}))
        # Same host, another path: the credentials go nowhere new.
        path_only = writer.patch(
            f"/api/v1/endpoints/{endpoint_id}", json={"url": f"{partner.url}/v2"}
        )
        assert path_only.status_code == 200, path_only.text
        assert writer.post("/api/v1/events", json={"type": "t", "data": {}}).status_code == 201
        wait_until(lambda: len(partner.snapshot()) == 1)
        assert other.snapshot() == []
        assert partner.snapshot()[0].headers["authorization"] == BEARER

        # Giving the headers again, write may move it: the new host gets what write gave.
        reentered = writer.patch(
            f"/api/v1/endpoints/{endpoint_id}",
            json={"url": other.url, "headers": {"Authorization": "Bearer mine"}},
        )
        assert reentered.status_code == 200, reentered.text
        assert admin.patch(
            f"/api/v1/endpoints/{endpoint_id}",
            json={"url": partner.url, "headers": {"Authorization": BEARER}},
        ).is_success
        moved = admin.patch(f"/api/v1/endpoints/{endpoint_id}", json={"url": other.url})
        assert moved.status_code == 200, moved.text

        # An endpoint without custom headers carries no credential of its own to move.
        bare = writer.post("/api/v1/endpoints", json={"name": "bare", "url": partner.url})
        assert writer.patch(
            f"/api/v1/endpoints/{bare.json()['id']}", json={"url": other.url}
        ).is_success

        entries = _audit(admin, endpoint_id, "endpoint.target_changed")
        assert [e["details"]["given_again"] for e in entries] == [False, True, True]
        origin = other.url.rsplit("/", 1)[0]
        assert entries[0]["details"]["to"] == [origin]
        assert "partner-credential" not in admin.get("/api/v1/audit").text


def _flow(url: str, **action: Any) -> dict[str, Any]:
    return {
        "name": "notify",
        "trigger": {"event_types": ["t"]},
        "steps": [{"id": "send", "action": {"url": url, **action}}],
    }


def test_flow_target_while_it_signs(database_url: str) -> None:
    partner, other = "https://hooks.partner.example/in", "https://collector.other.example/x"
    with running_hub(database_url, with_worker=False) as (base_url, _):
        admin = admin_client(base_url)
        writer = _client(admin, base_url, "write")
        created = admin.post("/api/v1/flows", json=_flow(partner))
        assert created.status_code == 201, created.text
        flow_id = created.json()["id"]

        _refused(writer.patch(f"/api/v1/flows/{flow_id}", json={"steps": _flow(other)["steps"]}))
        _refused(writer.put(f"/api/v1/flows/{flow_id}", json=_flow(other)))
        branch = {
            "id": "route",
            "branch": {"paths": [{"name": "all", "steps": _flow(other)["steps"]}]},
        }
        _refused(writer.patch(f"/api/v1/flows/{flow_id}", json={"steps": [branch]}))
        templated = _flow("{{ event.data.url }}")["steps"]
        _refused(writer.patch(f"/api/v1/flows/{flow_id}", json={"steps": templated}))
        assert admin.get(f"/api/v1/flows/{flow_id}").json()["version"] == 1

        # Same host, or unsigned: the flow's secret signs nothing for a new host.
        for steps in (_flow(f"{partner}/v2")["steps"], _flow(other, sign=False)["steps"]):
            changed = writer.patch(f"/api/v1/flows/{flow_id}", json={"steps": steps})
            assert changed.status_code == 200, changed.text
        # A new flow has a secret of its own: write may aim it anywhere.
        assert writer.post("/api/v1/flows", json={**_flow(other), "name": "mine"}).is_success

        admin.patch(f"/api/v1/flows/{flow_id}", json={"steps": _flow(partner)["steps"]})
        moved = admin.patch(f"/api/v1/flows/{flow_id}", json={"steps": _flow(other)["steps"]})
        assert moved.status_code == 200, moved.text
        entries = _audit(admin, flow_id, "flow.target_changed")
        assert [e["details"]["to"] for e in entries] == [
            ["https://collector.other.example"],
            ["https://hooks.partner.example"],  # signed again after the unsigned version
        ]
        assert entries[0]["details"]["from"] == ["https://hooks.partner.example"]


def test_flow_target_while_it_uses_a_named_secret(database_url: str) -> None:
    partner, other = "https://api.partner.example/v1/report", "https://collector.other.example/x"
    key = "partner-named-secret-93be1f"
    header = {"Authorization": "Bearer {{ secrets.partner_key }}"}
    with running_hub(database_url, with_worker=False) as (base_url, _):
        admin = admin_client(base_url)
        writer = _client(admin, base_url, "write")
        stored = admin.post("/api/v1/secrets", json={"name": "partner_key", "value": key})
        assert stored.status_code == 201, stored.text
        created = admin.post("/api/v1/flows", json=_flow(partner, sign=False, headers=header))
        assert created.status_code == 201, created.text
        flow_id = created.json()["id"]

        moved = _flow(other, sign=False, headers=header)
        _refused(writer.patch(f"/api/v1/flows/{flow_id}", json={"steps": moved["steps"]}))
        in_body = _flow(other, sign=False, body={"k": "{{ secrets.partner_key }}"})
        _refused(writer.patch(f"/api/v1/flows/{flow_id}", json={"steps": in_body["steps"]}))
        # A new flow of write's own may not send the secret to a host write names either.
        _refused(writer.post("/api/v1/flows", json={**moved, "name": "exfiltrate"}))
        # The same host with the same secret: an ordinary edit.
        path = _flow(f"{partner}/daily", sign=False, headers=header)
        assert writer.patch(f"/api/v1/flows/{flow_id}", json={"steps": path["steps"]}).is_success

        assert admin.patch(f"/api/v1/flows/{flow_id}", json={"steps": moved["steps"]}).is_success
        entries = _audit(admin, flow_id, "flow.target_changed")
        assert [e["details"]["uses"] for e in entries] == [
            ["secrets.partner_key"],
            ["secrets.partner_key"],
        ]
        assert entries[0]["details"]["to"] == ["https://collector.other.example"]
        assert key not in admin.get("/api/v1/audit").text
