"""What the privacy tests share."""

from __future__ import annotations

import time
from typing import Any

import httpx

FINISHED = ("done", "failed")


def finished_request(admin: httpx.Client, request_id: str) -> dict[str, Any]:
    """The privacy request once the hub's worker has finished it (within a minute)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = admin.get(f"/api/v1/privacy-requests/{request_id}").json()
        if body["status"] in FINISHED:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{request_id} did not finish")
