"""Bad settings for the GA4, Amplitude and OneSignal connectors: a JSON 422 naming the
setting, and nothing stored (over real HTTP, on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from renkei.hub import Hub
from tests.support.server import ADMIN_TOKEN, running_hub

# (connector, credentials, config, error code, what the message names)
BAD_CONNECTIONS = [
    ("ga4", {"api_secret": "s"}, {}, "invalid_settings", "measurement_id"),
    ("ga4", {}, {"measurement_id": "G-1"}, "invalid_settings", "api_secret"),
    (
        "ga4",
        {"api_secret": "s"},
        {"measurement_id": "G-1", "base_url": "www.google-analytics.com"},  # no scheme
        "invalid_url",
        "base_url",
    ),
    (
        "amplitude",
        {"api_key": "k"},
        {"base_url": "ftp://api2.amplitude.com"},
        "invalid_url",
        "base_url",
    ),
    ("amplitude", {"api_key": "k"}, {"region": "eu"}, "invalid_settings", "region"),
    (
        "amplitude",
        {"api_key": "k", "secret_key": "s"},
        {"privacy_url": "amplitude.com"},  # no scheme
        "invalid_url",
        "privacy_url",
    ),
    ("amplitude", {"api_key": "k", "secret_key": 7}, {}, "validation_failed", "secret_key"),
    ("onesignal", {"rest_api_key": "k"}, {}, "invalid_settings", "app_id"),
    ("onesignal", {"rest_api_key": 7}, {"app_id": "a"}, "validation_failed", "rest_api_key"),
]


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[str, Hub]]:
    with running_hub(database_url, with_worker=False) as served:
        yield served


@pytest.mark.parametrize(("connector", "credentials", "config", "code", "names"), BAD_CONNECTIONS)
def test_a_bad_connection_is_a_422_naming_the_setting(
    served: tuple[str, Hub],
    connector: str,
    credentials: dict[str, Any],
    config: dict[str, Any],
    code: str,
    names: str,
) -> None:
    base_url, _ = served
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = {"name": "bad", "connector": connector, "credentials": credentials, "config": config}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        response = client.post("/api/v1/connections", json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/json"
        error = response.json()["error"]
        assert error["code"] == code and names in error["message"], error
        assert client.get("/api/v1/connections").json()["data"] == []
