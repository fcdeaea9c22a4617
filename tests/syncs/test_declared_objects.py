"""A sync needs no engine change for a new vendor: a connector that exists only in this test
declares one object (``people``, pulled into profiles), and the generic engine syncs it
against a real HTTP server on loopback, page by page, through the connector service (its
daily quota counts every call the run reports), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import time
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import renkei.syncs
from renkei.clock import ManualClock
from renkei.connectors.connections import create_connection
from renkei.connectors.registry import default_registry
from renkei.connectors.spec import (
    CallContext,
    Connector,
    ConnectorSpec,
    Field,
    Operation,
    OperationResult,
    QuotaSpec,
)
from renkei.connectors.sync_objects import Page, PullProfiles, SyncCall
from renkei.events.profiles import vendor_ids
from renkei.sandbox import serve_in_thread

from .harness import START, SyncRig, sync_rig

pytestmark = pytest.mark.timeout(120)

PEOPLE = [
    {
        "id": n,
        "email": f"Person{n}@Example.com",
        "name": f"Person {n}",
        "updated": START.isoformat(),
    }
    for n in range(1, 8)
]


def people_server(requests: list[dict[str, str]]) -> Starlette:
    """``GET /people?after=<id>&limit=<n>``: people by id, whether more follow."""

    async def people(request: Request) -> JSONResponse:
        requests.append(dict(request.query_params))
        after = int(request.query_params.get("after") or 0)
        limit = int(request.query_params["limit"])
        page = [p for p in PEOPLE if int(p["id"]) > after][:limit]
        more = bool(page) and int(page[-1]["id"]) < int(PEOPLE[-1]["id"])
        return JSONResponse({"people": page, "more": more})

    return Starlette(routes=[Route("/people", people)])


async def read_people_page(
    call: SyncCall, config: Mapping[str, Any], cursor: Mapping[str, Any]
) -> Page:
    after = cursor.get("after") or 0
    result = await call("read_people", {"after": after, "limit": int(config.get("page_size") or 3)})
    people = result.data["people"]
    last = people[-1]["id"] if people else after
    return Page(people, {"after": last}, bool(result.data["more"]))


class PeopleConnector(Connector):
    spec = ConnectorSpec(
        name="people_test",
        title="People (a test-only vendor)",
        docs_url="https://example.com/people",
        config=(Field("base_url", "Where the people API answers"),),
        operations=(
            Operation(
                "read_people",
                "People after an id",
                {"type": "object", "required": ["after", "limit"]},
                kind="read",
            ),
        ),
        daily_quota=QuotaSpec(calls=1000, reset=time(0, 0), timezone="UTC"),
    )
    sync_objects = (
        PullProfiles("people", read=read_people_page, identity="people_id", modified="updated"),
    )

    def base_url(self, config: Mapping[str, Any]) -> str:
        return str(config["base_url"])

    async def read_people(self, input: Mapping[str, Any], ctx: CallContext) -> OperationResult:
        response = await ctx.http.request(
            "GET", "/people", operation="read_people", params=dict(input)
        )
        return OperationResult(data=response.json())


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    requests: list[dict[str, str]] = []
    with serve_in_thread(people_server(requests)) as base_url:
        yield base_url, requests


async def connect(rig: SyncRig, base_url: str) -> None:
    registry = rig.hub.connectors.registry
    registry.add(PeopleConnector)
    async with rig.hub.database.transaction() as tx:
        await create_connection(
            tx,
            keyring=rig.hub.keyring,
            registry=registry,
            now=rig.clock.now(),
            name="people",
            connector="people_test",
            config={"base_url": base_url},
            credentials={},
        )


async def test_a_connector_declaring_an_object_is_synced_by_the_generic_engine(
    database_url: str, server: tuple[str, list[dict[str, str]]]
) -> None:
    base_url, requests = server
    clock = ManualClock(START)
    async with sync_rig(database_url, clock) as rig:
        await connect(rig, base_url)
        sync = await rig.syncs.create(
            {"name": "people-in", "connection": "people", "direction": "pull", "object": "people"}
        )
        await rig.syncs.run("people-in")
        await rig.run()

        runs = await rig.syncs.runs("people-in")
        assert [run.status for run in runs] == ["succeeded"]
        assert runs[0].counts | {"errors": runs[0].errors} == {
            "read": 7,
            "created": 7,
            "updated": 0,
            "skipped": 0,
            "failed": 0,
            "calls": 3,
            "errors": [],
        }
        assert [r["after"] for r in requests] == ["0", "3", "6"]
        usage = await rig.hub.connectors.usage("people")
        assert usage["daily_quota"]["used"] == 3
        assert (await rig.syncs.get(sync.id)).cursor == {"after": 7}

        connection_id = await rig.connection_id("people")
        for person in PEOPLE:
            profile = await rig.profile(str(person["email"]).lower())
            assert profile is not None, person
            assert vendor_ids(profile, "people_id", connection_id) == [str(person["id"])]
            assert profile.traits["name"]["value"] == person["name"]
            assert "updated" not in profile.traits  # the modification time is not a trait

        # Nothing new: the next run reads from the cursor and changes nothing.
        await rig.syncs.run("people-in")
        await rig.run()
        latest = (await rig.syncs.runs("people-in"))[0]
        assert (latest.status, latest.counts["read"], latest.counts["calls"]) == (
            "succeeded",
            0,
            1,
        )
        assert requests[-1]["after"] == "7"


async def test_an_object_the_connector_does_not_declare_is_refused(
    database_url: str, server: tuple[str, list[dict[str, str]]]
) -> None:
    from renkei.syncs import SyncInvalid

    base_url, _ = server
    async with sync_rig(database_url, ManualClock(START)) as rig:
        await connect(rig, base_url)
        with pytest.raises(SyncInvalid, match="object must be one of people for a pull sync"):
            await rig.syncs.create(
                {"name": "x", "connection": "people", "direction": "pull", "object": "leads"}
            )
        with pytest.raises(SyncInvalid, match=r"one of \(none\) for a push sync"):
            await rig.syncs.create(
                {"name": "y", "connection": "people", "direction": "push", "object": "people"}
            )


def test_the_sync_engine_names_no_vendor() -> None:
    """Issue 15: ``syncs/`` is generic; what a vendor can sync is declared by its connector
    (``grep -ril "marketo\\|hubspot" src/renkei/syncs`` finds nothing, nor any other
    connector's name)."""
    generic = {"http", "slack", "sql"}  # connectors named by what they speak, not who
    vendors = sorted(set(default_registry().names) - generic)
    assert {"marketo", "hubspot"} <= set(vendors)
    pattern = re.compile(r"\b(" + "|".join(vendors) + r")\b", re.IGNORECASE)
    named = {
        path.name: sorted({match.lower() for match in pattern.findall(path.read_text())})
        for path in Path(renkei.syncs.__file__).parent.rglob("*.py")
    }
    assert {name: found for name, found in named.items() if found} == {}
