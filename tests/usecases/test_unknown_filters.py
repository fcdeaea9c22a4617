"""Filters and ids a person mistypes are refused in words, not answered with nothing or a 500
(both backends)."""

from __future__ import annotations

import pytest

from renkei.errors import Invalid, NotFound
from renkei.usecases import jobs, webhooks
from tests.usecases.actors import READER, WRITER, local_hub


async def test_an_unknown_delivery_status_is_refused(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        with pytest.raises(Invalid, match="status must be one of pending, failed, held"):
            await webhooks.list_deliveries(hub, READER, status="bogus")
        assert (await webhooks.list_deliveries(hub, READER, status="exhausted")).items == []


async def test_a_job_id_beyond_any_column_does_not_exist(database_url: str) -> None:
    async with local_hub(database_url) as hub:
        with pytest.raises(NotFound, match="job 99999999999999999999999 does not exist"):
            await jobs.retry_job(hub, WRITER, 99999999999999999999999)
