"""Create what renkei.yaml describes through the management API, then "send test" each
event type to each endpoint, as a marketer would in MAAC's screens.

    RENKEI_URL=http://127.0.0.1:8787 RENKEI_TOKEN=rk_admin_... python setup_via_api.py \\
        [--receiver http://127.0.0.1:8000]

Prints each endpoint's id and secret (give the secret to the receiving engineer) and the
result of every test send.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import httpx
import yaml

HERE = Path(__file__).parent


def setup(client: httpx.Client, config: dict[str, Any], receiver: str | None) -> dict[str, Any]:
    """Create event types and endpoints; returns {endpoint name: {"id", "secret", "tests"}}."""
    for event_type in config["event_types"]:
        response = client.post("/api/v1/event-types", json=event_type)
        if response.status_code not in (201, 409):
            response.raise_for_status()
    created: dict[str, Any] = {}
    for spec in config["endpoints"]:
        body = dict(spec)
        if receiver:
            body["url"] = receiver.rstrip("/") + "/" + spec["url"].split("/", 3)[3]
        response = client.post("/api/v1/endpoints", json=body)
        response.raise_for_status()
        endpoint_id = response.json()["id"]
        secret = client.get(f"/api/v1/endpoints/{endpoint_id}/secret").json()["key"]
        tests = {
            event_type: client.post(
                f"/api/v1/endpoints/{endpoint_id}/test", json={"event_type": event_type}
            ).json()
            for event_type in spec["event_types"]
        }
        created[spec["name"]] = {"id": endpoint_id, "secret": secret, "tests": tests}
    return created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--receiver", help="base URL replacing the one in renkei.yaml")
    args = parser.parse_args()
    config = yaml.safe_load((HERE / "renkei.yaml").read_text())
    client = httpx.Client(
        base_url=os.environ.get("RENKEI_URL", "http://127.0.0.1:8787"),
        headers={"Authorization": f"Bearer {os.environ['RENKEI_TOKEN']}"},
        timeout=30,
    )
    for name, endpoint in setup(client, config, args.receiver).items():
        print(f"{name}: {endpoint['id']} secret {endpoint['secret']}")
        for event_type, result in endpoint["tests"].items():
            outcome = "ok" if result["success"] else f"FAILED ({result['error']})"
            print(
                f"  test {event_type}: {result['status_code']} {outcome} {result['duration_ms']} ms"
            )


if __name__ == "__main__":
    main()
