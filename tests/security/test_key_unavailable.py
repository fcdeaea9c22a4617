"""Every route that decrypts answers 503 ``secret_key_unavailable`` (never a 500) when a
secret was sealed with a key the server does not have: the server still runs on the old
RENKEI_SECRET_KEY after ``renkei keys rotate --servers-updated`` (issue 14). Real HTTP,
both backends; the live ``renkei serve`` version is in test_rotation_live.py."""

from __future__ import annotations

import asyncio

import pytest

from renkei.security.keyring import Keyring, generate_key
from renkei.security.rotation import rotate_keys
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.timeout(300)


def test_every_route_that_decrypts_answers_503(database_url: str) -> None:
    old, new = generate_key(), generate_key()
    with running_hub(database_url, with_worker=False, secret_key=[old]) as (url, hub):
        api = admin_client(url)
        endpoint = api.post(
            "/api/v1/endpoints", json={"name": "crm", "url": "https://crm.example.com/h"}
        )
        assert endpoint.status_code == 201, endpoint.text
        source = api.post("/api/v1/sources", json={"name": "web", "kind": "tracking"})
        assert source.status_code == 201, source.text
        flow = api.post(
            "/api/v1/flows",
            json={
                "name": "f",
                "trigger": {"event_types": ["track"]},
                "steps": [{"id": "a", "map": []}],
            },
        )
        assert flow.status_code == 201, flow.text
        reveals = [
            f"/api/v1/endpoints/{endpoint.json()['id']}/secret",
            f"/api/v1/sources/{source.json()['id']}/secret",
            f"/api/v1/flows/{flow.json()['id']}/secret",
        ]
        shown = [api.get(path) for path in reveals]
        assert [r.status_code for r in shown] == [200, 200, 200], [r.text for r in shown]

        # What `RENKEI_SECRET_KEY=new,old renkei keys rotate --servers-updated` does.
        report = asyncio.run(_rotate(database_url, Keyring([new, old])))
        assert report >= 3

        for path, before in zip(reveals, shown, strict=True):
            answer = api.get(path)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.headers["content-type"] == "application/json"
            assert answer.headers.get("Retry-After")
            error = answer.json()["error"]
            assert error["code"] == "secret_key_unavailable", (path, answer.text)
            assert "restart with the new RENKEI_SECRET_KEY" in error["message"]
            for material in (old, new, *(str(v) for v in before.json().values())):
                assert material not in answer.text
        assert hub.keyring.key_ids  # the server still runs on its one old key


async def _rotate(database_url: str, keyring: Keyring) -> int:
    from renkei.store import Database

    database = Database(database_url)
    try:
        return (await rotate_keys(database, keyring)).rewritten
    finally:
        await database.dispose()
