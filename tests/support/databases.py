"""Fresh, migrated databases for tests: a SQLite file or a PostgreSQL database (on the\nsuite's own server: ``tests/support/postgres.py``)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import asyncpg

from renkei.store import Database, migrate
from tests.support.postgres import suite_admin_url, suite_server_is_ours

BACKENDS = ("sqlite", "postgresql")


def _pg_url(name: str) -> str:
    base, _, _ = suite_admin_url().rpartition("/")
    return f"{base}/{name}"


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await migrate(database)
    finally:
        await database.dispose()


class DatabaseFactory:
    """Makes one migrated template per backend per test session, then cheap copies of it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._sqlite_template: Path | None = None
        self._pg_template: str | None = None
        self._pg_databases: list[str] = []

    def new_url(self, backend: str) -> str:
        if backend == "sqlite":
            return self._new_sqlite()
        return self._new_postgres()

    def _new_sqlite(self) -> str:
        if self._sqlite_template is None:
            template = self.workdir / "template.db"
            asyncio.run(_migrate(f"sqlite:///{template}"))
            self._sqlite_template = template
        path = self.workdir / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(self._sqlite_template, path)
        return f"sqlite:///{path}"

    def _new_postgres(self) -> str:
        if self._pg_template is None:
            name = f"renkei_tpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
            asyncio.run(self._admin(f'CREATE DATABASE "{name}"'))
            self._pg_databases.append(name)
            asyncio.run(_migrate(_pg_url(name)))
            self._pg_template = name
        name = f"renkei_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        asyncio.run(self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self._pg_template}"'))
        self._pg_databases.append(name)
        return _pg_url(name)

    async def _admin(self, *statements: str) -> None:
        connection = await asyncpg.connect(suite_admin_url())
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    def cleanup(self) -> None:
        drops = [
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            for name in reversed(self._pg_databases)
        ]
        if drops and not suite_server_is_ours():  # ours is removed whole at exit
            asyncio.run(self._admin(*drops))
