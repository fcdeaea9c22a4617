"""examples/maac-webhooks: the YAML applies (idempotently), the API script creates the same,
"send test" works per event type, and the example receiver verifies what Renkei sends."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from renkei.config import apply_plan, make_plan
from renkei.hub import Hub
from renkei.security.keyring import generate_key
from tests.delivery.webhook_receiver import Receiver, wait_until
from tests.support.server import admin_client, running_hub
from tests.support.server import test_settings as settings_for

EXAMPLE = Path(__file__).parents[2] / "examples" / "maac-webhooks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"maac_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def config_for(receiver: Receiver) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((EXAMPLE / "renkei.yaml").read_text())
    for endpoint in config["endpoints"]:
        endpoint["url"] = endpoint["url"].replace("127.0.0.1:8000", f"127.0.0.1:{receiver.port}")
    return config


def test_yaml_applies_and_the_example_receiver_verifies(database_url: str) -> None:
    example_receiver = load("receiver")
    key = [generate_key()]
    with Receiver() as receiver:
        config = config_for(receiver)

        async def apply() -> tuple[dict[str, int], dict[str, int]]:
            hub = Hub(settings_for(database_url, secret_key=key))
            await hub.start(with_worker=False)
            try:
                first = await make_plan(hub, config)
                await apply_plan(hub, first)
                second = await make_plan(hub, config)
                return first.summary(), second.summary()
            finally:
                await hub.stop()

        first, second = asyncio.run(apply())
        assert first == {"create": 8, "update": 0, "unchanged": 0}
        assert second == {"create": 0, "update": 0, "unchanged": 8}

        with running_hub(database_url, secret_key=key, worker_poll_interval=0.05) as (base_url, _):
            client = admin_client(base_url)
            endpoints = {e["name"]: e for e in client.get("/api/v1/endpoints").json()["data"]}
            assert set(endpoints) == {"crm", "points-system", "sms-gateway"}
            secrets = [
                client.get(f"/api/v1/endpoints/{e['id']}/secret").json()["key"]
                for e in endpoints.values()
            ]
            for kind in config["event_types"]:
                published = client.post(
                    "/api/v1/events", json={"type": kind["name"], "data": kind["example"]}
                )
                assert published.status_code == 201, published.text
            # crm: receipt + form; points: receipt (amount ≥ 1000) + points; sms: pnp + open.
            wait_until(lambda: len(receiver.requests) == 6)
            by_path = {r.path: [] for r in receiver.requests}  # type: dict[str, list[str]]
            for request in receiver.requests:
                payload = example_receiver.verify(secrets, request.body, request.headers)
                by_path[request.path].append(payload["type"])
            assert sorted(by_path["/webhooks/crm"]) == [
                "form.surveycake_submitted",
                "receipt.receipt_validated",
            ]
            assert sorted(by_path["/webhooks/points"]) == [
                "prize.points_added",
                "receipt.receipt_validated",
            ]
            assert sorted(by_path["/webhooks/messages"]) == [
                "message.first_open",
                "pnp.status_updated",
            ]


def test_setup_via_api_creates_the_same_and_test_sends(database_url: str) -> None:
    setup_script = load("setup_via_api")
    with Receiver(lambda _, __: 204) as receiver, running_hub(database_url) as (base_url, _):
        client = admin_client(base_url)
        config = yaml.safe_load((EXAMPLE / "renkei.yaml").read_text())
        created = setup_script.setup(client, config, f"http://127.0.0.1:{receiver.port}")
        assert set(created) == {"crm", "points-system", "sms-gateway"}
        for endpoint in created.values():
            assert endpoint["secret"].startswith("whsec_")
            assert all(result["success"] for result in endpoint["tests"].values())
        assert len(receiver.requests) == 6
        listed = client.get("/api/v1/event-types").json()["data"]
        names = {t["name"] for t in listed if not t["system"]}
        assert len(names) == 5
