"""End-to-end playbook runs: a Renkei server on loopback (ingest and API over real HTTP),
the example's renkei.yaml applied, vendor sandboxes and receivers on loopback, and the
worker driven on a movable clock so delays and schedules take no wall time."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from renkei.clock import ManualClock
from renkei.config import apply_plan, load_config, make_plan
from renkei.hub import Hub
from renkei.sandbox import create_sandbox, serve_in_thread
from tests.flows.receivers import Receiver, receiver
from tests.support.server import admin_client, running_hub, test_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Sections whose ResourceKind may not be registered: created through the HTTP API instead.
_API_PATHS = {
    "event_types": "/api/v1/event-types",
    "endpoints": "/api/v1/endpoints",
    "connections": "/api/v1/connections",
}


class Playbook:
    def __init__(self, base_url: str, driver: Hub, clock: ManualClock) -> None:
        self.base_url = base_url
        self.driver = driver
        self.clock = clock
        self.api = admin_client(base_url)
        self.applied: dict[str, str] = {}
        self.write_keys: dict[str, str] = {}

    async def apply(self, example: str, env: dict[str, str]) -> dict[str, Any]:
        path = EXAMPLES / example / "renkei.yaml"
        sections = list(yaml.safe_load(path.read_text()) or {})
        config = load_config(path, known_sections=sections, environ=env)
        for section, api_path in _API_PATHS.items():
            if section in config and section not in self.driver.resources:
                for item in config[section]:
                    response = self.api.post(api_path, json=item)
                    assert response.status_code == 201, response.text
        plan = await make_plan(self.driver, config)
        self.applied = await apply_plan(self.driver, plan)
        again = await make_plan(self.driver, config)
        flows_again = [(c.name, c.fields) for c in again.pending if c.section == "flows"]
        assert flows_again == [], "applying the flows twice changes nothing"
        for source in self.api.get("/api/v1/sources").json()["data"]:
            if source["kind"] == "tracking":
                revealed = self.api.get(f"/api/v1/sources/{source['id']}/secret").json()
                self.write_keys[source["name"]] = revealed["write_key"]
        return config

    def flow_id(self, name: str) -> str:
        return self.applied.get(f"flows.{name}") or self._find_flow(name)

    def _find_flow(self, name: str) -> str:
        for flow in self.api.get("/api/v1/flows", params={"limit": 500}).json()["data"]:
            if flow["name"] == name:
                return str(flow["id"])
        raise LookupError(name)

    def track(self, source: str, call: str = "track", **message: Any) -> None:
        """A Segment-style call through the tracking API (``/v1/track``, ``/v1/identify``)."""
        key = base64.b64encode(f"{self.write_keys[source]}:".encode()).decode()
        response = httpx.post(
            f"{self.base_url}/v1/{call}",
            json=message,
            headers={"Authorization": f"Basic {key}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text

    def publish(self, event_type: str, data: dict[str, Any], event_id: str | None = None) -> str:
        """A webhook-style event through ``POST /api/v1/events``."""
        body: dict[str, Any] = {"type": event_type, "data": data}
        if event_id:
            body["id"] = event_id
        response = self.api.post("/api/v1/events", json=body)
        assert response.status_code in (200, 201, 202), response.text
        return str(response.json()["id"])

    async def run(self) -> int:
        total = 0
        worker = self.driver.new_worker()
        while ran := await worker.run_burst():
            total += ran
        return total

    async def tick(self) -> int:
        """Run the queue's scheduler once, as a worker would: the ticks it enqueued."""
        enqueued, _ = await self.driver.queue.run_due_schedules()
        return enqueued

    def runs(self, flow_name: str, **params: Any) -> list[dict[str, Any]]:
        response = self.api.get(
            f"/api/v1/flows/{self.flow_id(flow_name)}/runs", params={"limit": 500, **params}
        )
        assert response.status_code == 200, response.text
        runs = list(reversed(response.json()["data"]))
        # Runs of events stored together start concurrently, so list them in the order their
        # events were stored (the event log's order), not the order the runs began.
        stored = self.api.get("/api/v1/events", params={"limit": 500}).json()["data"]
        position = {event["id"]: index for index, event in enumerate(reversed(stored))}
        return sorted(runs, key=lambda run: position.get(run.get("event_id"), -1))

    def statuses(self, flow_name: str) -> list[str]:
        return [run["status"] for run in self.runs(flow_name)]


@asynccontextmanager
async def playbook(database_url: str, **settings: Any) -> AsyncIterator[Playbook]:
    values = {"flow_refresh_seconds": 0, "endpoint_refresh_seconds": 0, "retry_jitter": 0}
    values.update(settings)
    config = test_settings(database_url, **values)
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    server_hub = Hub(config, clock=clock)
    driver = Hub(config, clock=clock)
    with running_hub(database_url, with_worker=False, hub=server_hub) as (base_url, _):
        book = Playbook(base_url, driver, clock)
        try:
            yield book
        finally:
            book.api.close()
            await driver.flows.close()
            await driver.webhooks.close()
            await driver.database.dispose()


@contextmanager
def sandboxes(clock: ManualClock, *names: str) -> Iterator[dict[str, tuple[Any, str]]]:
    """Vendor sandboxes served on loopback: name → (sandbox, base_url)."""
    with ExitStack() as stack:
        found: dict[str, tuple[Any, str]] = {}
        for name in names:
            sandbox = create_sandbox(name, clock)
            found[name] = (sandbox, stack.enter_context(serve_in_thread(sandbox.app)))
        yield found


@contextmanager
def receivers(*names: str) -> Iterator[dict[str, Receiver]]:
    with ExitStack() as stack:
        yield {name: stack.enter_context(receiver()) for name in names}
