"""``/api/v1/flows`` over real HTTP: save-time validation, versions, enable/disable,
preview (sends nothing), runs, secrets kept out of listings."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.flows.receivers import Receiver, receiver
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def api(database_url: str) -> Iterator[httpx.Client]:
    with (
        running_hub(database_url, with_worker=False) as (base_url, _),
        admin_client(base_url) as client,
    ):
        yield client


def _flow(url: str, **extra: object) -> dict[str, object]:
    return {
        "name": "welcome",
        "trigger": {
            "event_types": ["track"],
            "names": ["Signed Up"],
            "filter": {"data.properties.plan": {"$ne": "free"}},
        },
        "reeligibility": {"mode": "once"},
        "steps": [
            {
                "id": "body",
                "template": {
                    "source": '{"email": "{{ event.email }}", "plan": "{{ data.properties.plan | upcase }}"}'
                },
            },
            {
                "id": "send",
                "action": {
                    "url": url + "/welcome",
                    "headers": {"Authorization": "Bearer sk-live-abcdef123456"},
                    "body": "{{ steps.body }}",
                },
            },
        ],
        **extra,
    }


def test_invalid_specs_are_rejected_with_every_problem_located(api: httpx.Client) -> None:
    bad = {
        "name": "broken",
        "trigger": {
            "event_types": ["track"],
            "filter": {"data.amount": {"$between": [1, 2]}, "$or": []},
        },
        "reeligibility": {"mode": "once_per"},
        "steps": [
            {"id": "t", "template": {"source": '{"a": "{{ event.id | shout }}"}'}},
            {"id": "t2", "template": {"format": "text", "source": "line one\n{% iff event.id %}"}},
            {"id": "m", "map": [{"target": "d", "source": "event.x", "convert": ["to_dat"]}]},
            {"id": "d", "delay": "soon"},
            {"id": "a", "action": {"url": "http://x/{{ event.id | nope }}"}},
            {"id": "t", "filter": {"x": {"$gt": []}}},
        ],
    }
    response = api.post("/api/v1/flows", json=bad)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_flow"
    problems = error["details"]
    by_path = {p["path"]: p for p in problems}
    assert by_path["trigger.filter.data.amount"]["operator"] == "$between"
    assert any(p.get("operator") == "$or" for p in problems)
    assert "reeligibility.hours" in by_path
    shout = by_path["steps[0].template"]
    assert "unknown filter 'shout'" in shout["message"] and shout["line"] == 1
    assert by_path["steps[1].template"]["line"] == 2
    assert any(p["path"].startswith("steps[2].map") and "to_dat" in p["message"] for p in problems)
    assert "steps[3].delay" in by_path
    assert "steps[4].action.url" in by_path
    assert "steps[5].id" in by_path  # the id t is used twice
    assert any(
        p["path"].startswith("steps[5].filter") and p.get("operator") == "$gt" for p in problems
    )
    assert api.get("/api/v1/flows").json()["data"] == []

    checked = api.post(
        "/api/v1/flows/validate",
        json={"trigger": {"event_types": ["x"]}, "steps": [{"filter": {"a": {"$exists": "yes"}}}]},
    ).json()
    assert checked["valid"] is False and checked["problems"][0]["operator"] == "$exists"


def test_crud_versions_and_switches(api: httpx.Client) -> None:
    created = api.post("/api/v1/flows", json=_flow("http://127.0.0.1:9"))
    assert created.status_code == 201, created.text
    flow = created.json()
    assert flow["id"].startswith("flow_") and flow["version"] == 1 and flow["enabled"] is True
    assert flow["steps"][1]["action"]["headers"]["Authorization"] == "[redacted]"
    assert "sk-live-abcdef123456" not in api.get("/api/v1/flows").text
    assert api.post("/api/v1/flows", json=_flow("http://127.0.0.1:9")).status_code == 409

    renamed = api.patch(
        f"/api/v1/flows/{flow['id']}", json={"description": "Welcome paying users"}
    ).json()
    assert renamed["version"] == 1
    edited = api.patch(
        f"/api/v1/flows/{flow['id']}", json={"reeligibility": {"mode": "once_per", "hours": 24}}
    ).json()
    assert edited["version"] == 2
    assert [
        v["version"] for v in api.get(f"/api/v1/flows/{flow['id']}/versions").json()["data"]
    ] == [2, 1]
    assert (
        api.patch(f"/api/v1/flows/{flow['id']}", json={"steps": [{"delay": "x"}]}).status_code
        == 422
    )

    assert api.post(f"/api/v1/flows/{flow['id']}/disable").json()["enabled"] is False
    assert api.post(f"/api/v1/flows/{flow['id']}/enable").json()["enabled"] is True
    secret = api.get(f"/api/v1/flows/{flow['id']}/secret").json()["secret"]
    assert secret.startswith("whsec_")
    assert api.get(f"/api/v1/flows/{flow['id']}/runs").json() == {"data": [], "next_cursor": None}
    assert api.delete(f"/api/v1/flows/{flow['id']}").status_code == 204
    assert api.get(f"/api/v1/flows/{flow['id']}").status_code == 404
    assert (
        api.post("/api/v1/flows", json=_flow("http://127.0.0.1:9")).status_code == 201
    )  # the name is free again


def test_preview_returns_outputs_and_exact_requests_and_sends_nothing(api: httpx.Client) -> None:
    target: Receiver
    with receiver() as target:
        flow = api.post("/api/v1/flows", json=_flow(target.url)).json()
        sample = {
            "type": "track",
            "name": "Signed Up",
            "email": "ann@example.com",
            "data": {"properties": {"plan": "pro"}},
        }
        response = api.post(f"/api/v1/flows/{flow['id']}/preview", json={"event": sample})
        assert response.status_code == 200, response.text
        preview = response.json()
        assert preview["trigger"] == {"matched": True}
        assert preview["status"] == "succeeded"
        assert [s["step"] for s in preview["steps"]] == ["body", "send"]
        assert preview["steps"][0]["output"] == {"email": "ann@example.com", "plan": "PRO"}
        [request] = preview["requests"]
        assert request["method"] == "POST" and request["url"] == target.url + "/welcome"
        assert request["body"] == {"email": "ann@example.com", "plan": "PRO"}
        assert request["headers"]["Authorization"] == "[redacted]"
        assert request["headers"]["webhook-id"] == "run_preview.send"
        assert request["headers"]["content-type"] == "application/json"

        free = api.post(
            f"/api/v1/flows/{flow['id']}/preview",
            json={"event": {**sample, "data": {"properties": {"plan": "free"}}}},
        ).json()
        assert free["trigger"] == {"matched": False}
        broken = api.patch(
            f"/api/v1/flows/{flow['id']}",
            json={
                "steps": [
                    {
                        "id": "body",
                        "template": {"strict": True, "source": '{"x": "{{ event.nothing }}"}'},
                    }
                ]
            },
        )
        assert broken.status_code == 200
        failed = api.post(f"/api/v1/flows/{flow['id']}/preview", json={"event": sample}).json()
        assert failed["status"] == "failed" and "nothing" in failed["error"]
        assert (
            api.post(
                f"/api/v1/flows/{flow['id']}/preview", json={"event_id": "evt_missing"}
            ).status_code
            == 404
        )
        assert target.requests == []  # a preview sends nothing


def test_preview_of_an_event_the_trigger_does_not_match_runs_nothing(api: httpx.Client) -> None:
    """The page said 'no run would start' and showed 'succeeded' with requests it would send."""
    flow = api.post("/api/v1/flows", json=_flow("http://127.0.0.1:9")).json()
    preview = api.post(
        f"/api/v1/flows/{flow['id']}/preview", json={"event": {"type": "identify"}}
    ).json()
    assert preview["trigger"] == {"matched": False}
    assert preview["status"] == "skipped"
    assert preview["steps"] == [] and preview["requests"] == []


def test_preview_shows_the_idempotency_key_and_still_redacts_credentials(
    api: httpx.Client,
) -> None:
    spec = _flow("http://127.0.0.1:9")
    spec["steps"][1]["action"]["headers"] = {  # type: ignore[index]
        "Authorization": "Bearer sk-live-abcdef123456",
        "X-Api-Key": "plain-looking-value",
        "Idempotency-Key": "welcome-{{ event.email }}",
    }
    flow = api.post("/api/v1/flows", json=spec).json()
    sample = {"type": "track", "name": "Signed Up", "email": "ann@example.com"}
    preview = api.post(f"/api/v1/flows/{flow['id']}/preview", json={"event": sample}).json()
    [request] = preview["requests"]
    assert request["headers"]["Idempotency-Key"] == "welcome-ann@example.com"
    assert request["headers"]["Authorization"] == "[redacted]"
    assert request["headers"]["X-Api-Key"] == "[redacted]"
