"""Named secrets: ``POST /api/v1/secrets`` (admin; values never come out), the ``secrets:``
section of a configuration file, and ``{{ secrets.NAME }}`` in a flow's HTTP action, read
only when the request is sent: the receiver gets the value, the run's record, previews,
the flow's spec and the database's rows do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from renkei.config import apply_plan, load_config, make_plan
from renkei.store import Database
from tests.examples.harness import playbook
from tests.flows.receivers import receiver
from tests.support.rawscan import assert_not_in_files, assert_not_stored

pytestmark = pytest.mark.timeout(120)

KEY = "sk-partner-7f3e9a1c5b2d4e6f8a0b"
ROTATED = "sk-partner-rotated-0a1b2c3d4e5f"


def _flow(url: str) -> dict[str, object]:
    return {
        "name": "to-partner",
        "trigger": {"event_types": ["order.paid"]},
        "steps": [
            {
                "id": "send",
                "action": {
                    "url": url + "/orders?key={{ secrets.partner_key }}",
                    "headers": {"X-Partner": "{{ secrets.partner_key }}"},
                    "sign": False,
                    "body": {"order": "{{ event.data.id }}"},
                },
            }
        ],
    }


async def test_a_secret_is_used_at_send_time_and_shown_nowhere(database_url: str) -> None:
    async with playbook(database_url) as book:
        api = book.api
        created = api.post(
            "/api/v1/secrets",
            json={"name": "partner_key", "value": KEY, "description": "Partner API"},
        )
        assert created.status_code == 201, created.text
        assert set(created.json()) == {"id", "name", "description", "created_at", "updated_at"}
        again = api.post("/api/v1/secrets", json={"name": "partner_key", "value": "x"})
        assert again.status_code == 409
        bad = api.post("/api/v1/secrets", json={"name": "Bad Name", "value": "x"})
        assert bad.status_code == 422
        with receiver() as target:
            flow = api.post("/api/v1/flows", json=_flow(target.url))
            assert flow.status_code == 201, flow.text
            flow_id = flow.json()["id"]
            book.publish("order.paid", {"id": "o-1"})
            await book.run()
            [request] = target.to("/orders")
            assert request.path == f"/orders?key={KEY}"
            assert request.headers["x-partner"] == KEY

            [run] = book.runs("to-partner")
            assert run["status"] == "succeeded"
            preview = api.post(
                f"/api/v1/flows/{flow_id}/preview",
                json={"event": {"type": "order.paid", "data": {"id": "o-2"}}},
            ).json()
            assert preview["requests"][0]["headers"]["X-Partner"] == "[secret partner_key]"

            # A rotation: the next request carries the new value.
            put = api.put("/api/v1/secrets/partner_key", json={"value": ROTATED})
            assert put.status_code == 200, put.text
            book.publish("order.paid", {"id": "o-3"})
            await book.run()
            assert target.to("/orders")[-1].headers["x-partner"] == ROTATED

            answers = "".join(
                [
                    api.get("/api/v1/secrets").text,
                    api.get("/api/v1/secrets/partner_key").text,
                    api.get(f"/api/v1/flows/{flow_id}").text,
                    api.get(f"/api/v1/flows/{flow_id}/runs").text,
                    api.get("/api/v1/audit", params={"limit": 100}).text,
                    str(preview),
                ]
            )
            for value in (KEY, ROTATED):
                assert value not in answers
        actions = [e["action"] for e in api.get("/api/v1/audit").json()["data"]]
        assert {"secret.created", "secret.updated"} <= set(actions)

        database = Database(database_url)
        try:
            await assert_not_stored(database, KEY, ROTATED)
        finally:
            await database.dispose()
        assert_not_in_files(database_url, KEY, ROTATED)

        assert api.delete("/api/v1/secrets/partner_key").status_code == 204
        book.publish("order.paid", {"id": "o-4"})
        await book.run()
        failed = book.runs("to-partner")[-1]
        assert failed["status"] == "failed"
        assert "no secret named partner_key" in failed["error"]


async def test_secrets_only_where_a_request_is_built(database_url: str) -> None:
    async with playbook(database_url) as book:
        spec = {
            "name": "leaky",
            "trigger": {"event_types": ["x"]},
            "steps": [
                {"id": "body", "template": '{"key": "{{ secrets.partner_key }}"}'},
                {"action": {"publish": {"type": "y", "data": {"k": "{{ secrets.partner_key }}"}}}},
                {"action": {"url": "http://127.0.0.1:9/{{ secrets.partner_key }}"}},
            ],
        }
        response = book.api.post("/api/v1/flows", json=spec)
        assert response.status_code == 422, response.text
        paths = [problem["path"] for problem in response.json()["error"]["details"]]
        assert paths == ["steps[0].template", "steps[1].action.publish.data.k"]


async def test_the_secrets_section_of_a_config_file(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "renkei.yaml"
    path.write_text(
        "secrets:\n"
        "  - name: partner_key\n"
        "    description: Partner API\n"
        '    value: "${env:PARTNER_KEY}"\n'
    )
    async with playbook(database_url) as book:
        hub = book.driver

        async def apply(value: str) -> list[tuple[str, str]]:
            config = load_config(path, known_sections=["secrets"], environ={"PARTNER_KEY": value})
            plan = await make_plan(hub, config)
            await apply_plan(hub, plan)
            return [(change.name, change.action) for change in plan.changes]

        assert await apply(KEY) == [("partner_key", "create")]
        assert await apply(KEY) == [("partner_key", "unchanged")]
        assert await apply(ROTATED) == [("partner_key", "update")]
        exported = await hub.resources["secrets"].export(hub)
        assert KEY not in str(exported) and ROTATED not in str(exported)
        [secret] = book.api.get("/api/v1/secrets").json()["data"]
        assert secret["name"] == "partner_key" and secret["description"] == "Partner API"
        async with hub.database.read() as connection:
            from renkei.flows.secrets import reveal

            assert await reveal(connection, hub.keyring, ["partner_key"]) == {
                "partner_key": ROTATED
            }
