"""``usecases.oauth`` on both backends, on a ManualClock: a state works for ten minutes
only, only its hash is stored, and Connect needs write scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from renkei.clock import ManualClock
from renkei.errors import Forbidden
from renkei.hub import Hub
from renkei.security.tokens import Principal
from renkei.usecases import LOCAL, oauth
from renkei.usecases import connections as connection_cases
from tests.support.rawscan import assert_not_stored
from tests.support.server import test_settings as settings_for

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[Hub]:
    hub = Hub(
        settings_for(database_url, public_url="https://hub.example.com/"), clock=ManualClock(START)
    )
    await hub.start(with_worker=False)
    await connection_cases.create_connection(
        hub,
        LOCAL,
        name="crm",
        connector="hubspot",
        config={},
        credentials={"client_id": "app", "client_secret": "app-secret"},
    )
    yield hub
    await hub.stop()


async def _state(hub: Hub) -> str:
    started = await oauth.start(hub, LOCAL, "crm", request_base_url="http://ignored/")
    assert started["redirect_uri"] == "https://hub.example.com/oauth/callback"
    return parse_qs(urlsplit(started["authorize_url"]).query)["state"][0]


async def test_a_state_expires_after_ten_minutes(hub: Hub) -> None:
    clock = hub.clock
    assert isinstance(clock, ManualClock)
    state = await _state(hub)
    await assert_not_stored(hub.database, state)
    clock.advance(seconds=oauth.STATE_TTL.total_seconds())
    with pytest.raises(oauth.OAuthRefused) as refused:
        await oauth.finish(hub, state=state, code="c", error=None)
    assert refused.value.code == "oauth_state_expired" and refused.value.status == 400


async def test_connect_needs_write_scope(hub: Hub) -> None:
    reader = Principal(token_id="tok_r", name="reader", scope="read")
    with pytest.raises(Forbidden):
        await oauth.start(hub, reader, "crm", request_base_url="http://ignored/")
