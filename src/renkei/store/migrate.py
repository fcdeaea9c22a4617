"""Bring the schema to the newest revision. Safe to call from many processes at once.

Alembic is imported only when a revision has to be applied. Every process start asks
whether the schema is current, and it nearly always is: importing alembic (and the mako
templates its scripts load) to answer would cost each process about 11 MB and the start
about 80 ms (docs/benchmarks.md, session 12).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from renkei.store.database import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# A revision's id is its file's number: ``versions/0028_partitions.py`` is ``"0028"``.
_REVISION_FILES = "[0-9][0-9][0-9][0-9]_*.py"
_VERSION_TABLE = "alembic_version"
_PG_MIGRATION_LOCK = 7_201_905_012  # any constant shared by every Renkei process


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    if _current(connection) == head_revision():
        return
    from alembic import command

    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    command.upgrade(alembic_config(connection), "head")


@functools.cache
def head_revision() -> str:
    """The newest revision, read off the files' names (tests/store/test_migrate.py checks
    that alembic reads the same)."""
    return max(path.name[:4] for path in (MIGRATIONS / "versions").glob(_REVISION_FILES))


async def migrate(database: Database) -> None:
    async with database.unbounded() as connection:
        await connection.run_sync(_upgrade)


def _current(connection: Connection) -> str | None:
    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    version: str | None = connection.execute(
        text(f"SELECT version_num FROM {_VERSION_TABLE}")  # noqa: S608 - a constant
    ).scalar_one_or_none()
    return version


async def current_revision(database: Database) -> str | None:
    async with database.reader.connect() as connection:
        return await connection.run_sync(_current)
