"""The audit trail: admin only, newest first, narrowed by action and target."""

from __future__ import annotations

import pytest

from renkei.errors import Forbidden
from renkei.usecases import audit, tokens
from tests.usecases.actors import ADMIN, WRITER, local_hub


async def test_admin_reads_the_trail_newest_first(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        with pytest.raises(Forbidden):
            await audit.list_audit(hub, WRITER, limit=10)
        first = await tokens.create_token(hub, ADMIN, name="a", scope="read")
        second = await tokens.create_token(hub, ADMIN, name="b", scope="read")
        await tokens.revoke_token(hub, ADMIN, first.id)
        entries = (await audit.list_audit(hub, ADMIN, limit=10)).items
        assert [(e["action"], e["target_id"]) for e in entries] == [
            ("token.revoked", first.id),
            ("token.created", second.id),
            ("token.created", first.id),
        ]
        newest = await audit.list_audit(hub, ADMIN, limit=1)
        assert [e["id"] for e in newest] == [entries[0]["id"]]
        older = await audit.list_audit(hub, ADMIN, limit=10, cursor=newest.next_cursor)
        assert [e["id"] for e in older] == [e["id"] for e in entries[1:]]
        assert older.next_cursor is None
        narrowed = await audit.list_audit(hub, ADMIN, limit=10, action="token.created")
        assert [e["target_id"] for e in narrowed] == [second.id, first.id]
        by_target = await audit.list_audit(hub, ADMIN, limit=10, target_id=first.id)
        assert [e["action"] for e in by_target] == ["token.revoked", "token.created"]
