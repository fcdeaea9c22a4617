"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from renkei.api import gauges
from renkei.api.errors import error_response
from renkei.observability.metrics import exposition_registry

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    not_ready = request.app.state.hub.not_ready
    if not_ready is not None:  # started without its database: migrates when it answers
        code, message = not_ready
        return error_response(503, code, message, headers={"Retry-After": "5"})
    try:
        await asyncio.wait_for(request.app.state.hub.database.ping(), timeout=3)
    except Exception:
        return error_response(
            503,
            "database_unavailable",
            "the database is unreachable",
            headers={"Retry-After": "5"},
        )
    return Response(b'{"status":"ready"}', media_type="application/json")


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    await gauges.refresh(request.app.state.hub)
    return Response(generate_latest(exposition_registry()), media_type=CONTENT_TYPE_LATEST)
