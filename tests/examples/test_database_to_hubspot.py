"""examples/database-to-hubspot: customers and orders of a real database (a fresh one on the
local PostgreSQL and MariaDB servers) to profiles, events and HubSpot contacts (the HubSpot
sandbox), on SQLite and PostgreSQL, with the example's renkei.yaml applied as written."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml

from renkei.clock import ManualClock
from renkei.config import load_config
from renkei.sandbox.hubspot import DEFAULT_TOKEN
from tests.connectors.sql_sources import Source, source_database
from tests.examples.test_hubspot_contacts import hubspot
from tests.syncs.harness import START, SyncRig, sync_rig

pytestmark = pytest.mark.timeout(180)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "database-to-hubspot" / "renkei.yaml"
STAMP = {"postgresql": "TIMESTAMP", "mariadb": "DATETIME(6)"}


async def shop(source: Source) -> None:
    stamp = STAMP[source.kind]
    await source.run(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR(200),"
        " first_name VARCHAR(80), last_name VARCHAR(80), company VARCHAR(80), plan VARCHAR(20),"
        f" customer_ref VARCHAR(20), updated_at {stamp} NOT NULL)",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, email VARCHAR(200),"
        f" customer_ref VARCHAR(20), item VARCHAR(40), amount DECIMAL(10, 2), created_at {stamp})",
    )
    await source.run(
        "INSERT INTO customers VALUES (:id, :email, :first, :last, :company, :plan, :ref, :at)",
        params=[
            {
                "id": 1,
                "email": "ann@example.com",
                "first": "Ann",
                "last": "Ito",
                "company": "Ito Books",
                "plan": "pro",
                "ref": "c1",
                "at": datetime(2026, 3, 1, 9),
            },
            {
                "id": 2,
                "email": "bo@example.com",
                "first": "Bo",
                "last": "Sato",
                "company": "Sato Co",
                "plan": "free",
                "ref": "c2",
                "at": datetime(2026, 3, 1, 9),
            },
            {
                "id": 3,
                "email": None,
                "first": "No",
                "last": "Email",
                "company": None,
                "plan": "free",
                "ref": "c3",
                "at": datetime(2026, 3, 1, 9),
            },
        ],
    )
    await source.run(
        "INSERT INTO orders VALUES (:id, :email, :ref, :item, :amount, :at)",
        params=[
            {
                "id": 10,
                "email": "ann@example.com",
                "ref": "c1",
                "item": "book",
                "amount": 12.5,
                "at": datetime(2026, 3, 1, 10),
            }
        ],
    )


async def apply_example(rig: SyncRig, source: Source, base_url: str) -> None:
    sections = list(yaml.safe_load(EXAMPLE.read_text()))
    env = {
        "SHOP_DATABASE_URL": source.url,
        "HUBSPOT_BASE_URL": base_url,
        "HUBSPOT_TOKEN": DEFAULT_TOKEN,
    }
    config = load_config(EXAMPLE, known_sections=sections, environ=env)
    for section in ("connections", "syncs"):
        for spec in config[section]:
            await rig.hub.resources[section].apply(rig.hub, spec, None)


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
async def test_database_rows_reach_hubspot_contacts(
    kind: str, database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    with hubspot(clock) as (sandbox, base):
        async with (
            source_database(kind, tmp_path) as source,
            sync_rig(database_url, clock) as rig,
        ):
            await shop(source)
            await apply_example(rig, source, base)
            for name in ("shop-customers-to-profiles", "shop-orders-to-events"):
                await rig.syncs.run(name)
                await rig.run()
                (run,) = await rig.syncs.runs(name)
                assert (run.status, run.errors) == ("succeeded", []), name
            ann = await rig.profile("ann@example.com")
            assert ann.traits["plan"]["value"] == "pro"
            assert ann.values("user_id") == ["c1"]
            (order,) = await rig.events_of_type("order.placed")
            assert (order["name"], order["user_id"]) == ("book", "c1")

            await rig.syncs.run("profiles-to-hubspot-contacts")
            await rig.run()
            contact = sandbox.contact_by_email("ann@example.com")
            assert contact is not None
            assert (contact.properties["firstname"], contact.properties["company"]) == (
                "Ann",
                "Ito Books",
            )
            # Only the people of the events the push names: Bo has not ordered.
            assert sandbox.contact_by_email("bo@example.com") is None
            assert sandbox.violations == []
