"""Issue 21, defect 7: an endpoint or a connection aimed at a private or metadata IP literal
is refused when it is saved (422), not only at send time, unless the settings allow private
targets. Cloud metadata addresses stay refused either way (as they are when connecting)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from renkei.egress.errors import TargetRefused
from renkei.egress.ssrf import TargetPolicy
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.server import admin_client, running_hub

pytestmark = pytest.mark.timeout(120)

PRIVATE = [
    "http://127.0.0.1/hook",
    "http://127.1/hook",  # shorthand a resolver reads as 127.0.0.1
    "http://2130706433/hook",  # 127.0.0.1 as one number
    "http://0x7f.0.0.1/hook",
    "http://[::1]/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.5:8080/hook",
    "http://192.168.1.10/hook",
    "http://100.64.0.1/hook",  # CGNAT
    "http://[fd00::1]/hook",
    "http://[fe80::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "https://169.254.10.1/hook",  # link-local
]
METADATA = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/",
    "http://[::ffff:169.254.169.254]/",
    "http://100.100.100.200/",
]
PUBLIC = "https://hooks.example.com/in"


def _marketo(name: str, url: str) -> dict[str, object]:
    return {
        "name": name,
        "connector": "marketo",
        "config": {"base_url": url},
        "credentials": {"client_id": "id", "client_secret": "secret-value"},
    }


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "target_refused", response.text


def _saves(client: httpx.Client, url: str, n: int) -> list[httpx.Response]:
    """Endpoint create and update, connection create and update, with ``url``."""
    endpoint = client.post("/api/v1/endpoints", json={"name": f"ok{n}", "url": PUBLIC})
    connection = client.post("/api/v1/connections", json=_marketo(f"ok{n}", PUBLIC))
    assert endpoint.status_code == connection.status_code == 201
    return [
        client.post("/api/v1/endpoints", json={"name": f"e{n}", "url": url}),
        client.patch(f"/api/v1/endpoints/{endpoint.json()['id']}", json={"url": url}),
        client.post("/api/v1/connections", json=_marketo(f"c{n}", url)),
        client.patch(
            f"/api/v1/connections/{connection.json()['id']}", json={"config": {"base_url": url}}
        ),
    ]


@pytest.fixture(scope="module", params=BACKENDS)
def strict_client(
    request: pytest.FixtureRequest, database_factory: DatabaseFactory
) -> Iterator[httpx.Client]:
    """A hub refusing private targets, one per module and backend: each test saves under
    names of its own."""
    database_url = database_factory.new_url(request.param)
    with (
        running_hub(database_url, with_worker=False, allow_private_targets=False) as (base, _),
        admin_client(base) as client,
    ):
        yield client


@pytest.mark.parametrize(("n", "url"), enumerate(PRIVATE + METADATA), ids=PRIVATE + METADATA)
def test_private_and_metadata_literals_are_refused_when_saved(
    strict_client: httpx.Client, n: int, url: str
) -> None:
    client = strict_client
    for response in _saves(client, url, n):
        _refused(response)
    # A nested URL of a generic HTTP connection (its OAuth token endpoint) too.
    nested = client.post(
        "/api/v1/connections",
        json={
            "name": "generic",
            "connector": "http",
            "config": {
                "url": PUBLIC,
                "auth": {"type": "oauth2_client_credentials", "token_url": url},
            },
            "credentials": {"client_id": "id", "client_secret": "s"},
        },
    )
    _refused(nested)
    endpoints = client.get("/api/v1/endpoints", params={"limit": 500}).json()["data"]
    names = [e["name"] for e in endpoints]
    assert f"ok{n}" in names and f"e{n}" not in names  # nothing refused was stored
    assert {e["url"] for e in endpoints} == {PUBLIC}


def test_private_literals_are_accepted_when_private_targets_are_allowed(database_url: str) -> None:
    with running_hub(database_url, with_worker=False, allow_private_targets=True) as (base, _):
        client = admin_client(base)
        for n, url in enumerate(PRIVATE):
            for response in _saves(client, url, n):
                assert response.status_code in (200, 201), (url, response.text)
        for n, url in enumerate(METADATA, start=len(PRIVATE)):
            for response in _saves(client, url, n):
                _refused(response)


def test_names_and_public_literals_pass_the_save_time_check() -> None:
    from renkei.egress.ssrf import refuse_private_literal
    from renkei.security.targets import origin

    policy = TargetPolicy(allow_private=False)
    for url in (PUBLIC, "http://93.184.216.34/x", "http://[2606:2800:220:1::]/", "{{ data.url }}"):
        refuse_private_literal(policy, url)
    # A name is checked when connecting (after DNS), not when saved.
    refuse_private_literal(policy, "http://localhost.internal.example/x")
    with pytest.raises(TargetRefused):
        refuse_private_literal(policy, "http://[::ffff:7f00:1]/")
    assert origin("HTTPS://Hooks.Example.com:443/a?b=c") == "https://hooks.example.com"
    assert origin("http://[::1]:8080/x") == "http://[::1]:8080"
    assert origin("{{ data.url }}") == "{{ data.url }}"


APPLIED = {
    "endpoints": lambda url: {"name": "hook", "url": url},
    "connections": lambda url: _marketo("mkto", url),
}


@pytest.mark.parametrize("section", sorted(APPLIED))
async def test_apply_refuses_private_literals_too(database_url: str, section: str) -> None:
    """``renkei plan|apply`` save through the same use cases: the same check, on create and
    on update."""
    from renkei.config import ConfigError, apply_plan, make_plan
    from renkei.hub import Hub
    from tests.support.server import test_settings

    hub = Hub(test_settings(database_url, allow_private_targets=False))
    await hub.start(with_worker=False)
    try:
        spec = APPLIED[section]
        for url in ("http://10.0.0.7/x", "http://169.254.169.254/"):
            with pytest.raises(ConfigError, match="refused by policy"):
                await apply_plan(hub, await make_plan(hub, {section: [spec(url)]}))
        await apply_plan(hub, await make_plan(hub, {section: [spec(PUBLIC)]}))
        with pytest.raises(ConfigError, match="refused by policy"):
            await apply_plan(hub, await make_plan(hub, {section: [spec("http://[::1]:9/x")]}))
        exported = await hub.resources[section].export(hub)
        assert "10.0.0.7" not in str(exported) and "::1" not in str(exported)
    finally:
        await hub.stop()
