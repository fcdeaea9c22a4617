"""``apply`` updates every resource kind in place, field by field, and is idempotent;
``plan`` refuses everything ``apply`` refuses (issue 14, task 1).

These run the same functions ``renkei plan|apply`` run (``make_plan``/``apply_plan``) on a
real hub over SQLite and PostgreSQL; tests/cli/test_cli_apply.py runs the CLI itself.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from renkei.config import ConfigError, apply_plan, make_plan
from renkei.hub import Hub
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.server import test_settings as hub_settings

pytestmark = pytest.mark.timeout(120)

FLOW = {
    "name": "welcome",
    "description": "say hello",
    "trigger": {"event_types": ["track"], "names": ["Signed Up"]},
    "reeligibility": {"mode": "once", "key": "{{ event.user_id }}"},
    "steps": [{"id": "body", "map": [{"target": "user", "source": "event.user_id"}]}],
}

# One base object per kind, then (field, new value) pairs applied one at a time.
CASES: dict[str, tuple[dict[str, Any], list[tuple[str, Any]]]] = {
    "event_types": (
        {
            "name": "order.paid",
            "description": "an order was paid",
            "schema": {"type": "object", "properties": {"amount": {"type": "number"}}},
            "example": {"amount": 1},
        },
        [
            ("description", "paid, really"),
            ("schema", {"type": "object", "required": ["amount"]}),
            ("example", {"amount": 2}),
            ("planned", True),  # in the tracking plan (issue 20)
        ],
    ),
    "sources": (
        {"name": "app", "kind": "tracking", "description": "the app"},
        [
            ("description", "the mobile app"),
            ("enabled", False),
            ("enabled", True),
            ("plan_mode", "block"),  # the tracking plan (issue 20)
            ("plan_mode", "omit_properties"),
        ],
    ),
    "sources:webhook": (
        {
            "name": "hooks",
            "kind": "webhook",
            "verification": {"scheme": "hmac", "header": "X-Signature"},
            "mapping": {"type": "type"},
        },
        [
            ("mapping", {"type": "event", "id": "id"}),
            ("verification", {"scheme": "hmac", "header": "X-Sig", "encoding": "base64"}),
            ("verification", {"scheme": "shared_secret", "header": "X-Token"}),
            ("description", "the CRM's hooks"),
        ],
    ),
    "connections": (
        {
            "name": "braze",
            "connector": "braze",
            "config": {"instance_url": "https://rest.iad-01.braze.com"},
            "credentials": {"api_key": "k-1"},
        },
        [
            ("config", {"instance_url": "https://rest.iad-02.braze.com"}),
            ("limits", {"rate_limit": {"calls": 10, "per_seconds": 1}}),
        ],
    ),
    "endpoints": (
        {"name": "crm", "url": "https://crm.example.com/hooks", "event_types": ["order.paid"]},
        [
            ("url", "https://crm.example.com/v2/hooks"),
            ("description", "the CRM"),
            ("event_types", ["order.paid", "order.refunded"]),
            ("filter", {"data.amount": {"$gt": 10}}),
            ("headers", {"X-Team": "growth"}),
            ("timeout_seconds", 5),
            ("rate_limit_per_second", 3),
            ("ordered", True),
            ("ordering_key", "data.customer"),
            ("disabled", True),
            ("disabled", False),
        ],
    ),
    "flows": (
        FLOW,
        [
            ("description", "say hello again"),
            ("enabled", False),
            ("trigger", {"event_types": ["track"], "names": ["Signed In"]}),
            ("reeligibility", {"mode": "always"}),
            (
                "steps",
                [{"id": "body", "map": [{"target": "who", "source": "event.user_id"}]}],
            ),
        ],
    ),
    "syncs": (
        {
            "name": "contacts",
            "connection": "hubspot",
            "direction": "pull",
            "object": "contacts",
            "config": {"fields": ["email"]},
            "trigger": {"every_seconds": 900},
        },
        [
            ("config", {"fields": ["email", "firstname"]}),
            ("trigger", {"cron": "0 * * * *"}),
            ("enabled", False),
            ("direction", "push"),
        ],
    ),
}
# What an object of a kind needs to exist first, applied in the same file.
NEEDS: dict[str, dict[str, list[dict[str, Any]]]] = {
    "syncs": {
        "connections": [
            {
                "name": "hubspot",
                "connector": "hubspot",
                "config": {"base_url": "https://api.hubapi.com"},
                "credentials": {"access_token": "t-1"},
            }
        ]
    }
}


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[Hub]:
    hub = Hub(hub_settings(database_url))
    await hub.start(with_worker=False)
    try:
        yield hub
    finally:
        await hub.stop()


async def _apply(hub: Hub, config: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    await apply_plan(hub, await make_plan(hub, config))
    return (await make_plan(hub, config)).summary()


async def _check_state(hub: Hub, section: str, spec: dict[str, Any]) -> None:
    kind = hub.resources[section]
    stored = (await kind.export(hub))[spec["name"]]
    wanted = kind.comparable(spec)
    assert {key: stored.get(key) for key in wanted} == wanted


@pytest.mark.parametrize("case", sorted(CASES))
async def test_apply_updates_every_field_in_place(hub: Hub, case: str) -> None:
    section = case.split(":")[0]
    base, edits = CASES[case]
    spec = copy.deepcopy(base)
    if section in NEEDS:
        await _apply(hub, NEEDS[section])
    assert await _apply(hub, {section: [spec]}) == {"create": 0, "update": 0, "unchanged": 1}
    ids = {await _stored_id(hub, section, spec["name"])}
    for field, value in edits:
        spec[field] = value
        plan = await make_plan(hub, {section: [spec]})
        assert [change.action for change in plan.changes] == ["update"], field
        assert field in plan.changes[0].fields
        assert await _apply(hub, {section: [spec]}) == {
            "create": 0,
            "update": 0,
            "unchanged": 1,
        }, field
        await _check_state(hub, section, spec)
        ids.add(await _stored_id(hub, section, spec["name"]))
    assert len(ids) == 1, "apply replaced the object instead of updating it"
    # Dropping every optional field goes back to the defaults, again in place.
    assert (await _apply(hub, {section: [copy.deepcopy(base)]}))["unchanged"] == 1
    await _check_state(hub, section, base)


async def _stored_id(hub: Hub, section: str, name: str) -> str:
    table = {
        "event_types": ("event_types", "name"),
        "sources": ("sources", "id"),
        "connections": ("connections", "id"),
        "endpoints": ("endpoints", "id"),
        "flows": ("flows", "id"),
        "syncs": ("syncs", "id"),
    }[section]
    from sqlalchemy import text

    async with hub.database.read() as connection:
        where = "deleted_at IS NULL AND " if section in ("endpoints", "flows") else ""
        row = (
            await connection.execute(
                text(f"SELECT {table[1]} FROM {table[0]} WHERE {where}name = :name"),
                {"name": name},
            )
        ).first()
    assert row is not None
    return str(row[0])


async def test_endpoint_created_elsewhere_is_updated_by_apply(hub: Hub) -> None:
    """The README tour: ``crm`` created through the API, then a file defines ``crm`` too."""
    created = {"name": "crm", "url": "https://crm.example.com/hooks", "event_types": ["track"]}
    await apply_plan(hub, await make_plan(hub, {"endpoints": [created]}))
    wanted = {"name": "crm", "url": "https://other.example.com/hooks"}
    assert await _apply(hub, {"endpoints": [wanted]}) == {
        "create": 0,
        "update": 0,
        "unchanged": 1,
    }
    await _check_state(hub, "endpoints", wanted)


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("flows", {**FLOW, "reeligibility": {"mode": "sometimes"}}, "reeligibility"),
    ("flows", {**FLOW, "steps": "not a list"}, "steps"),
    ("flows", {**FLOW, "colour": "red"}, "colour"),
    ("endpoints", {"name": "crm", "url": "ftp://crm.example.com"}, "url"),
    (
        "endpoints",
        {"name": "crm", "url": "https://x.example.com", "timeout_seconds": 99},
        "timeout",
    ),
    ("endpoints", {"name": "crm", "url": "https://x.example.com", "colour": 1}, "colour"),
    ("endpoints", {"name": "crm", "url": "https://x.example.com", "secret": "nope"}, "secret"),
    (
        "endpoints",
        {"name": "crm", "url": "https://x.example.com", "filter": {"$nope": 1}},
        "filter",
    ),
    ("event_types", {"name": "t", "schema": {"type": "nonsense"}}, "schema"),
    ("event_types", {"name": "t", "colour": 1}, "colour"),
    ("sources", {"name": "s", "kind": "carrier-pigeon"}, "kind"),
    ("sources", {"name": "s", "colour": 1}, "colour"),
    ("sources", {"name": "s", "plan_mode": "strict"}, "plan_mode"),
    ("sources", {"name": "s", "kind": "webhook", "plan_mode": "block"}, "plan_mode"),
    ("event_types", {"name": "t", "planned": "yes"}, "planned"),
    # Python's re takes \Z, the plan's Rust validator does not: refused when planned.
    ("event_types", {"name": "t", "planned": True, "schema": {"pattern": "a\\Z"}}, "schema"),
    ("connections", {"name": "c", "connector": "no-such-vendor"}, "no-such-vendor"),
    ("connections", {"name": "c", "connector": "braze", "colour": 1}, "colour"),
    ("syncs", {"name": "y", "connection": "missing", "direction": "pull"}, "missing"),
    ("syncs", {"name": "y", "connection": "c", "colour": 1}, "colour"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def shared_url(request: pytest.FixtureRequest, database_factory: DatabaseFactory) -> str:
    # Made outside any event loop: the factory runs its own for PostgreSQL.
    return database_factory.new_url(str(request.param))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_hub(shared_url: str) -> AsyncIterator[Hub]:
    """One hub per module and backend for the table of refusals: none of its rows stores
    anything (each checks it), so they can share one database. It lives on the module's
    event loop, and so do the tests that use it."""
    hub = Hub(hub_settings(shared_url))
    await hub.start(with_worker=False)
    try:
        yield hub
    finally:
        await hub.stop()


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("section", "spec", "message"), BAD, ids=[f"{s}-{m}" for s, _, m in BAD])
async def test_plan_refuses_what_apply_refuses(
    shared_hub: Hub, section: str, spec: dict[str, Any], message: str
) -> None:
    hub = shared_hub
    with pytest.raises(ConfigError, match=message) as refused_by_plan:
        await make_plan(hub, {section: [spec]})
    assert f"{section}.{spec['name']}" in str(refused_by_plan.value)
    # apply runs the same checks first; nothing is stored.
    with pytest.raises(ConfigError, match=message):
        plan = await make_plan(hub, {section: [spec]})
        await apply_plan(hub, plan)
    assert spec["name"] not in await hub.resources[section].export(hub)


async def test_plan_refuses_a_changed_kind_like_apply(hub: Hub) -> None:
    await apply_plan(hub, await make_plan(hub, {"sources": [{"name": "s", "kind": "tracking"}]}))
    with pytest.raises(ConfigError, match="kind cannot change"):
        await make_plan(hub, {"sources": [{"name": "s", "kind": "webhook"}]})
