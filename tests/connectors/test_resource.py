"""The ``connections`` section of ``renkei plan/apply/export``."""

from __future__ import annotations

import pytest

from renkei.config import apply_plan, export_state, load_config, make_plan
from renkei.config.loader import ConfigError
from renkei.hub import Hub
from renkei.store import Database
from tests.support.rawscan import assert_not_stored
from tests.support.server import test_settings as settings_for

pytestmark = pytest.mark.timeout(60)

CONFIG = """
connections:
  - name: marketo
    connector: marketo
    config: {base_url: "http://127.0.0.1:9001"}
    credentials:
      client_id: renkei-sandbox
      client_secret: "${env:MKTO_SECRET}"
    limits: {daily_quota: {calls: 10000}}
"""
SECRET = "config-file-secret-7a6b5c4d"


async def test_connections_are_planned_applied_and_exported_without_secrets(
    database_url: str, database: Database
) -> None:
    hub = Hub(settings_for(database_url))
    try:
        env = {"MKTO_SECRET": SECRET}
        config = load_config(CONFIG, known_sections=list(hub.resources), environ=env)
        plan = await make_plan(hub, config)
        assert plan.summary() == {"create": 1, "update": 0, "unchanged": 0}
        await apply_plan(hub, plan)
        assert (await make_plan(hub, config)).summary()["unchanged"] == 1

        exported = await export_state(hub)
        assert exported["connections"][0]["credentials_set"] == ["client_id", "client_secret"]
        assert SECRET not in repr(exported)
        assert (await make_plan(hub, exported)).summary()["unchanged"] == 1

        changed = load_config(
            CONFIG.replace("calls: 10000", "calls: 20000"),
            known_sections=list(hub.resources),
            environ=env,
        )
        plan = await make_plan(hub, changed)
        assert [(c.action, c.fields) for c in plan.changes] == [("update", ("limits",))]
        await apply_plan(hub, plan)
        usage = await hub.connectors.usage("marketo")
        assert usage["daily_quota"]["limit"] == 20_000
        await assert_not_stored(database, SECRET)

        broken = load_config(
            CONFIG.replace("connector: marketo", "connector: hubspot"),
            known_sections=list(hub.resources),
            environ=env,
        )
        with pytest.raises(ConfigError, match="cannot change"):
            await apply_plan(hub, await make_plan(hub, broken))
    finally:
        await hub.database.dispose()
