"""Named secrets: admin only, audited without the value, NotFound for unknown names."""

from __future__ import annotations

import json

import pytest

from renkei.errors import Conflict, Forbidden, Invalid, NotFound
from renkei.usecases import LOCAL, secrets
from tests.usecases.actors import ADMIN, WRITER, audit_entries, local_hub

VALUE = "s3cr3t-value-never-shown"


async def test_only_admin(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        for refused in (
            secrets.create_secret(hub, WRITER, name="key", value=VALUE),
            secrets.put_secret(hub, WRITER, name="key", value=VALUE),
            secrets.list_secrets(hub, WRITER, limit=10),
            secrets.get_secret(hub, WRITER, "key"),
            secrets.delete_secret(hub, WRITER, "key"),
        ):
            with pytest.raises(Forbidden):
                await refused


async def test_audited_without_the_value(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        made = await secrets.create_secret(hub, ADMIN, name="key", value=VALUE)
        _, created = await secrets.put_secret(hub, LOCAL, name="key", value="v2", via="cli")
        assert not created
        await secrets.delete_secret(hub, ADMIN, "key")
        entries = [
            *await audit_entries(hub, "secret.created"),
            *await audit_entries(hub, "secret.updated"),
            *await audit_entries(hub, "secret.deleted"),
        ]
        assert [(e["actor"], e["target_id"], e["details"]) for e in entries] == [
            ("tok_admin (admin)", made.id, {"name": "key"}),
            ("system", made.id, {"name": "key", "value_changed": True, "via": "cli"}),
            ("tok_admin (admin)", made.id, {"name": "key"}),
        ]
        assert all(VALUE not in json.dumps(e["details"]) for e in entries)


async def test_refusals(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        with pytest.raises(NotFound, match="secret nope does not exist"):
            await secrets.get_secret(hub, ADMIN, "nope")
        with pytest.raises(NotFound, match="secret nope does not exist"):
            await secrets.delete_secret(hub, ADMIN, "nope")
        with pytest.raises(Invalid) as bad:
            await secrets.create_secret(hub, ADMIN, name="Bad-Name", value=VALUE)
        assert bad.value.code == "invalid_secret"
        await secrets.create_secret(hub, ADMIN, name="key", value=VALUE)
        with pytest.raises(Conflict):
            await secrets.create_secret(hub, ADMIN, name="key", value=VALUE)
        assert await audit_entries(hub, "secret.deleted") == []
