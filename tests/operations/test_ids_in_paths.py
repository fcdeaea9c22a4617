"""The API takes ids in paths and id filters, never names: ``POST
/api/v1/endpoints/crm/replay`` started a replay (202) while ``GET /api/v1/endpoints/crm``
answered 404. A name is 404 on every operations route; the CLI keeps taking names
(tests/operations/test_cli.py)."""

from __future__ import annotations

from tests.delivery.test_delivery_e2e import make_endpoint
from tests.operations.test_replay import SINCE
from tests.operations.test_reruns import _flow
from tests.support.server import admin_client, running_hub


def test_operations_routes_answer_404_for_a_name(database_url: str) -> None:
    with running_hub(database_url, with_worker=False) as (base_url, _):
        admin = admin_client(base_url)
        endpoint = make_endpoint(admin, "http://127.0.0.1:9/hook")
        flow = admin.post("/api/v1/flows", json=_flow("http://127.0.0.1:9/partner")).json()
        assert admin.get("/api/v1/endpoints/crm").status_code == 404
        for path, body in (
            ("/api/v1/endpoints/crm/replay", {"since": SINCE}),
            ("/api/v1/flows/to-partner/replay", {"since": SINCE}),
            ("/api/v1/flows/to-partner/runs/run_x/rerun", None),
            ("/api/v1/flow-runs/rerun", {"flow_id": "to-partner"}),
            ("/api/v1/deliveries/resend", {"endpoint_id": "crm"}),
        ):
            answer = admin.post(path, json=body)
            assert answer.status_code == 404, (path, answer.text)
        by_id = admin.post(f"/api/v1/endpoints/{endpoint['id']}/replay", json={"since": SINCE})
        assert by_id.status_code == 202, by_id.text
        assert (
            admin.post("/api/v1/flow-runs/rerun", json={"flow_id": flow["id"]}).status_code == 202
        )
