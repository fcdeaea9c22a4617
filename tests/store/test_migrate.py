"""Migrating: the newest revision is read off the files' names, a current schema is left
alone without loading alembic, and an older one is brought up to date."""

from __future__ import annotations

import subprocess
import sys

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from renkei.store import Database, migrate
from renkei.store.migrate import alembic_config, current_revision, head_revision


def test_the_newest_revision_is_the_one_alembic_finds() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_an_empty_database_has_no_revision_until_migrated(tmp_path: object) -> None:
    database = Database(f"sqlite:///{tmp_path}/empty.db")
    try:
        assert await current_revision(database) is None
        await migrate(database)
        assert await current_revision(database) == head_revision()
    finally:
        await database.dispose()


def _downgrade_one(connection: Connection) -> None:
    command.downgrade(alembic_config(connection), "-1")


async def test_an_older_schema_is_brought_to_the_newest(database: Database) -> None:
    async with database.unbounded() as connection:
        await connection.run_sync(_downgrade_one)
    assert await current_revision(database) not in (None, head_revision())
    await migrate(database)
    assert await current_revision(database) == head_revision()


def test_a_current_schema_is_checked_without_loading_alembic(database_url: str) -> None:
    check = (
        "import asyncio, sys\n"
        "from renkei.store import Database, migrate\n"
        "async def main():\n"
        f"    database = Database({database_url!r})\n"
        "    await migrate(database)\n"
        "    await database.dispose()\n"
        "asyncio.run(main())\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'alembic', 'mako'}))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == "[]"
