"""API tokens: admin only, audited, NotFound for unknown ids and names."""

from __future__ import annotations

import pytest

from renkei.errors import Conflict, Forbidden, NotFound
from renkei.usecases import LOCAL, tokens
from tests.usecases.actors import ADMIN, WRITER, audit_entries, local_hub


async def test_only_admin(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        for refused in (
            tokens.create_token(hub, WRITER, name="ci", scope="read"),
            tokens.list_tokens(hub, WRITER),
            tokens.revoke_token(hub, WRITER, "tok_x"),
        ):
            with pytest.raises(Forbidden):
                await refused


async def test_create_list_revoke_audited(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        issued = await tokens.create_token(hub, ADMIN, name="ci", scope="write")
        assert issued.token.startswith("rk_write_")
        listed = await tokens.list_tokens(hub, ADMIN)
        assert [(t["id"], t["name"]) for t in listed] == [(issued.id, "ci")]
        assert "token_hash" not in listed[0]
        assert await tokens.revoke_token(hub, LOCAL, "ci", by_name=True, via="cli") == issued.id
        assert await tokens.list_tokens(hub, ADMIN, include_revoked=False) == []
        created = await audit_entries(hub, "token.created")
        assert [(e["actor"], e["details"]) for e in created] == [
            ("tok_admin (admin)", {"name": "ci", "scope": "write"})
        ]
        revoked = await audit_entries(hub, "token.revoked")
        assert [(e["actor"], e["target_id"], e["details"]) for e in revoked] == [
            ("system", issued.id, {"via": "cli"})
        ]


async def test_refusals(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        with pytest.raises(NotFound, match="token tok_nope does not exist"):
            await tokens.revoke_token(hub, ADMIN, "tok_nope")
        with pytest.raises(NotFound, match="token nope does not exist"):
            await tokens.revoke_token(hub, LOCAL, "nope", by_name=True)
        first = await tokens.create_token(hub, ADMIN, name="twin", scope="read")
        second = await tokens.create_token(hub, ADMIN, name="twin", scope="read")
        with pytest.raises(Conflict, match=f"{first.id}, {second.id}"):
            await tokens.revoke_token(hub, LOCAL, "twin", by_name=True)
        assert await audit_entries(hub, "token.revoked") == []
