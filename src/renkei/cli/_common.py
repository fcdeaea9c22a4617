"""Shared bits of the CLI: settings, a hub for one-shot commands, printing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
import uvloop
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.engine import make_url

from renkei.hub import Hub
from renkei.observability.logging import configure_logging
from renkei.settings import Settings

T = TypeVar("T")
console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        err_console.print(f"[red]Invalid configuration:[/red]\n{exc}")
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def with_hub(action: Callable[[Hub], Awaitable[T]], *, migrate_first: bool = True) -> T:
    """Run ``action`` against a hub for one command, then close it."""

    async def run() -> T:
        hub = Hub(load_settings())
        try:
            if migrate_first:
                await hub.start(with_worker=False)
            return await action(hub)
        finally:
            await hub.stop()

    return uvloop.run(run())  # as `renkei serve` runs (uvicorn's loop="uvloop")
